// Destinations page: open and close the Connect dialogs (native <dialog>, keyboard-friendly:
// Escape closes, focus starts in the form and comes back to the tile's link), and keep
// the focus on the field at fault when the server answers a Connect form with a refusal.
(function () {
  "use strict";
  let lastOpener = null;

  function focusFirst(container) {
    const target =
      container.querySelector("[aria-invalid=true]") ||
      container.querySelector("input:not([type=hidden]), select, textarea, button");
    if (target) target.focus();
  }

  // An opener is a link to the form's own page: followed before this script runs, or
  // when asked to open in another tab or window.
  function opensHere(event) {
    return event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey && !event.altKey;
  }

  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialogOpen);
      if (dialog && dialog.showModal && opensHere(event)) {
        event.preventDefault();
        lastOpener = opener;
        dialog.showModal();
        focusFirst(dialog);
      }
      return;
    }
    const closer = event.target.closest("[data-dialog-close]");
    if (closer) {
      closer.closest("dialog").close();
      return;
    }
    // A click on the backdrop (the dialog element itself) closes it.
    if (event.target.tagName === "DIALOG") event.target.close();
  });

  document.addEventListener(
    "close",
    function (event) {
      if (event.target.tagName === "DIALOG" && lastOpener) {
        lastOpener.focus();
        lastOpener = null;
      }
    },
    true,
  );

  // A form answered back (a refusal, or another version chosen) replaces the one that had
  // the focus: focus what needs fixing in the open dialog.
  document.addEventListener("htmx:afterSettle", function () {
    const dialog = document.querySelector("dialog[open]");
    if (dialog && !dialog.contains(document.activeElement)) focusFirst(dialog);
    else if (dialog) {
      const invalid = dialog.querySelector("[aria-invalid=true]");
      if (invalid) invalid.focus();
    }
  });
})();
