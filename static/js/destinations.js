// Destinations page: open and close the Connect dialogs (native <dialog>, keyboard-friendly).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialogOpen);
      if (dialog && dialog.showModal) {
        dialog.showModal();
        const first = dialog.querySelector("input, select, button");
        if (first) first.focus();
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
})();
