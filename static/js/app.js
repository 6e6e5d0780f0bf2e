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
  // A submit button with data-requires="<field id>" needs that field filled in: the field
  // is marked invalid, its error shown under it and focused, and nothing is sent.
  function missingRequirement(button) {
    const field = button && button.dataset.requires && document.getElementById(button.dataset.requires);
    if (!field) return false;
    let error = document.getElementById(field.id + "-error");
    if (field.value.trim()) {
      field.removeAttribute("aria-invalid");
      if (error) error.hidden = true;
      return false;
    }
    if (!error) {
      error = document.createElement("div");
      error.id = field.id + "-error";
      error.className = "error";
      field.insertAdjacentElement("afterend", error);
      const described = field.getAttribute("aria-describedby");
      field.setAttribute("aria-describedby", described ? error.id + " " + described : error.id);
    }
    error.textContent = button.dataset.requiresMessage || "This field is required.";
    error.hidden = false;
    field.setAttribute("aria-invalid", "true");
    field.focus();
    return true;
  }
  // Forms, or the button that submits them, with data-confirm ask before a destructive action.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const button = event.submitter;
    if (missingRequirement(button)) {
      event.preventDefault();
      return;
    }
    const question = (button && button.dataset.confirm) || (form.dataset && form.dataset.confirm);
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // A page that comes back with errors puts the cursor in the first field that has one
  // (not one a new draft keeps quiet until it is touched).
  document.addEventListener("DOMContentLoaded", function () {
    const invalid = Array.from(document.querySelectorAll("main [aria-invalid='true']")).find(
      function (field) { return !field.closest(".fld-quiet"); }
    );
    if (invalid && !document.querySelector("main [autofocus]")) invalid.focus();
  });
  // Dropdown menus built on <details class="menu">: Escape closes the one holding focus (or
  // any open one) and puts focus back on its summary; a click outside a menu closes it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    const inside = event.target.closest && event.target.closest("details.menu[open]");
    const menus = inside ? [inside] : document.querySelectorAll("details.menu[open]");
    menus.forEach(function (menu) {
      menu.open = false;
      if (menu === inside) menu.querySelector(":scope > summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  // Narrow screens show the sidebar as one row that scrolls sideways: bring the current link into view.
  document.addEventListener("DOMContentLoaded", function () {
    const nav = document.querySelector(".sidebar");
    const current = nav && nav.querySelector("[aria-current='page']");
    if (current && nav.scrollWidth > nav.clientWidth) {
      nav.scrollLeft += current.getBoundingClientRect().left - nav.getBoundingClientRect().left - 12;
    }
  });
})();
