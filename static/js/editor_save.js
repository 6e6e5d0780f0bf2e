// Saving the draft: an autosave a moment after each change, a named revision with the
// Save a revision button, Ctrl+S or Cmd+S, and nothing lost on the way out (a link, another
// form of the page, closing the tab). A draft changed somewhere else stops every save and
// says so.
(function () {
  "use strict";

  const editor = window.ConfigurationEditor;
  if (!editor) return;
  const { form, post, serializeState } = editor;
  const saveState = document.getElementById("save-state");
  const conflictBox = document.getElementById("save-conflict");
  const SAVE_DELAY = 1200;
  const RETRY_DELAY = 5000;

  let revision = Number(form.querySelector("[data-base-revision]").value);
  let lastSaved = serializeState();
  let saveTimer = null;
  let saving = null;
  let saveAgain = false;
  let conflict = false;

  function isDirty() { return serializeState() !== lastSaved; }

  // ---------------------------------------------------------------- autosave
  function setSaveState(state, text) {
    if (!saveState) return;
    saveState.dataset.state = state;
    const label = saveState.querySelector("[data-save-text]");
    const texts = {
      saved: "All changes saved",
      dirty: "Unsaved changes",
      saving: "Saving…",
      error: "Not saved",
      conflict: "Not saved: changed elsewhere",
    };
    label.textContent = text || texts[state];
  }

  function scheduleSave(delay) {
    if (conflict) return;
    clearTimeout(saveTimer);
    if (!saving) setSaveState(isDirty() ? "dirty" : "saved");
    saveTimer = setTimeout(function () { save(false); }, delay === undefined ? SAVE_DELAY : delay);
  }

  // `explicit`: Save a revision, named `name`; otherwise an autosave.
  function save(explicit, name) {
    clearTimeout(saveTimer);
    if (conflict) return Promise.resolve(false);
    if (saving) { saveAgain = true; return saving; }
    const state = serializeState();
    if (!explicit && state === lastSaved) { setSaveState("saved"); return Promise.resolve(true); }
    setSaveState("saving");
    saving = post(form.dataset.saveUrl, { base_revision: String(revision), autosave: explicit ? "0" : "1", note: name || "" })
      .then(function (response) {
        return response.json().then(function (body) { return { status: response.status, ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (result.status === 409) {
          conflict = true;
          setSaveState("conflict");
          conflictBox.hidden = false;
          conflictBox.querySelector("[data-conflict-text]").textContent = result.body.error.message + " Your unsaved edits are still on this page; copy what you need before reloading.";
          if (explicit) showToast("Not saved: this draft was changed somewhere else.", true);
          return false;
        }
        if (!result.ok) {
          const why = "Not saved: " + (result.body.error ? result.body.error.message : "the server refused the change");
          setSaveState("error", why);
          if (explicit) showToast(why, true);
          return false;
        }
        autosaved = result.body.autosaved;
        if (explicit) showToast(result.body.message, false);
        revision = result.body.revision;
        document.querySelectorAll("[data-base-revision]").forEach(function (input) { input.value = String(revision); });
        document.querySelectorAll("[data-revision-label]").forEach(function (label) { label.textContent = String(revision); });
        lastSaved = state;
        if (isDirty()) setSaveState("dirty");
        else if (explicit && !result.body.saved) setSaveState("saved");
        else setSaveState("saved", (explicit ? "Saved revision " : "Saved · revision ") + revision + " at " + result.body.saved_at.slice(11));
        return true;
      })
      .catch(function () {
        setSaveState("error", "Not saved: the server could not be reached. Retrying…");
        if (explicit) showToast("Not saved: the server could not be reached. Retrying…", true);
        saveTimer = setTimeout(function () { save(false); }, RETRY_DELAY);
        return false;
      })
      .finally(function () {
        saving = null;
        if (saveAgain) { saveAgain = false; scheduleSave(200); }
      });
    return saving;
  }

  window.addEventListener("beforeunload", function (event) {
    if (!conflict && (isDirty() || saving)) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Leaving through a link of the page first saves what is unsaved.
  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.dataset.focus !== undefined || link.getAttribute("href").startsWith("#")) return;
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.shiftKey || conflict || !isDirty()) return;
    event.preventDefault();
    save(false).then(function (ok) {
      if (ok) window.location.href = link.href;
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    askRevisionName();
  });

  // The page's other forms (duplicate, import, delete) first save what is unsaved, so a
  // duplicate copies what the partner sees and an import keeps it in the history. On
  // `window`, this runs after app.js has asked for any confirmation.
  window.addEventListener("submit", function (event) {
    const other = event.target;
    if (other === form || event.defaultPrevented || conflict || !isDirty()) return;
    event.preventDefault();
    save(false).then(function (ok) {
      if (ok) other.submit();
    });
  });

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      if (revisionDialog.open) revisionForm.requestSubmit();
      else askRevisionName();
    }
  });

  // ---------------------------------------------------------------- named revisions
  // Save a revision (the button, Ctrl+S or Cmd+S) asks for a name, then says what it did
  // in a toast that stays in the window. Nothing changed since the last named revision:
  // it says so and asks nothing. An autosave since then can still be named.
  const revisionDialog = document.getElementById("revision-dialog");
  const revisionForm = document.getElementById("revision-form");
  const revisionName = document.getElementById("revision-name");
  const toast = document.getElementById("save-toast");
  let autosaved = form.dataset.autosaved === "true";
  let returnFocus = null;
  let toastTimer = null;

  // Shown first and filled a moment later: a live region is announced when its text
  // changes while it is displayed, not when it appears with its text.
  function showToast(text, isError) {
    toast.classList.toggle("is-error", Boolean(isError));
    toast.textContent = "";
    toast.hidden = false;
    clearTimeout(toastTimer);
    setTimeout(function () { toast.textContent = text; }, 30);
    toastTimer = setTimeout(function () { toast.hidden = true; }, 6000);
  }

  function askRevisionName() {
    if (conflict) { showToast("Not saved: this draft was changed somewhere else. Reload the latest version.", true); return; }
    if (!isDirty() && !saving && !autosaved) {
      showToast("No changes to save: revision " + revision + " is up to date.", false);
      return;
    }
    if (revisionDialog.open) return;
    returnFocus = document.activeElement;
    toast.hidden = true;
    revisionName.value = "";
    revisionDialog.showModal();
    revisionName.focus();
  }

  revisionForm.addEventListener("submit", function (event) {
    // Handled here, so the page's other-forms handler (on window, above) leaves it alone.
    event.preventDefault();
    const name = revisionName.value.trim();
    revisionDialog.close();
    clearTimeout(saveTimer);
    const named = function () { return save(true, name); };
    if (saving) saving.then(named);
    else named();
  });

  revisionForm.querySelector("[data-revision-cancel]").addEventListener("click", function () {
    revisionDialog.close();
  });

  // Closed either way (Escape included): the cursor goes back where it was.
  revisionDialog.addEventListener("close", function () {
    if (returnFocus && returnFocus.isConnected) returnFocus.focus({ preventScroll: true });
    returnFocus = null;
  });

  editor.scheduleSave = scheduleSave;
})();
