// Part 1: the live tile preview (name and initials follow the input; the logo comes back
// from the server's check), the as-you-type name check state, and the unsaved guard.
(function () {
  "use strict";
  const form = document.querySelector("form[data-guard]");
  const nameInput = document.querySelector("[data-tile-name-source]");
  const logoInput = document.getElementById("id_logo");
  if (!form || !nameInput) return;
  const existing = Boolean(form.querySelector("[name=base_revision]"));
  let dirty = false;

  function initials(name) {
    const words = name.trim().split(/\s+/).filter(Boolean).slice(0, 2);
    return words.map(function (word) { return Array.from(word)[0]; }).join("").toUpperCase() || "?";
  }

  function syncTile() {
    const name = nameInput.value.trim();
    document.querySelectorAll("[data-tile-name]").forEach(function (label) {
      label.textContent = name || label.dataset.placeholder;
    });
    document.querySelectorAll("[data-tile-initials]").forEach(function (mark) {
      mark.textContent = initials(name);
    });
  }

  nameInput.addEventListener("input", syncTile);

  document.body.addEventListener("htmx:afterSettle", function (event) {
    const target = event.detail.target;
    if (target && target.id === "name-status") {
      if (target.querySelector("[data-name-problem]")) nameInput.setAttribute("aria-invalid", "true");
      else nameInput.removeAttribute("aria-invalid");
    }
    if (target && target.id === "logo-result" && target.querySelector("[data-logo-invalid]") && logoInput) {
      // Nothing was stored: clear the choice so that the form never sends a refused file.
      logoInput.value = "";
    }
    syncTile();
  });

  form.addEventListener("input", function (event) {
    // On an existing draft the logo is saved as soon as it is chosen.
    if (existing && event.target === logoInput) return;
    dirty = true;
  });
  form.addEventListener("change", function (event) {
    if (!(existing && event.target === logoInput)) dirty = true;
  });
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  syncTile();

  // A name typed (or filled in by the browser) before the page's scripts ran is checked
  // once they have: htmx sets the field up on DOMContentLoaded (its listener was added
  // before this one) and takes the value it finds then as unchanged, so it is asked here.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx && nameInput.value !== nameInput.defaultValue) {
      window.htmx.ajax("GET", nameInput.getAttribute("hx-get"), {
        source: nameInput,
        target: "#name-status",
      });
    }
  });
})();
