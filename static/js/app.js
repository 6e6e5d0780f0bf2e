// Small progressive enhancements shared by every page. No inline scripts (CSP).
(function () {
  "use strict";
  const csrf = document.body && document.body.dataset.csrf;
  document.addEventListener("htmx:configRequest", function (event) {
    if (csrf) event.detail.headers["X-CSRFToken"] = csrf;
  });
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]")) target.form.submit();
  });
  // Buttons that copy a value: <button data-copy="#element-id">.
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    const done = function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      done();
    }
  });
  // Forms with data-confirm ask before a destructive action.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
