// The Part 2 editor's shared ground, loaded before the other editor scripts: the form,
// the server's last answer about it, posting the form state, and the messages every part
// gives (a screen-reader announcement, a notice above the form). The other editor_*.js
// scripts find these, and each other's entry points, on `window.ConfigurationEditor`.
(function () {
  "use strict";

  const form = document.getElementById("editor-form");
  if (!form) return;
  const csrf = document.body.dataset.csrf;

  // ---------------------------------------------------------------- form state
  function serializeState() {
    const state = {};
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrfmiddlewaretoken" && key !== "base_revision") state[key] = String(value);
    });
    return JSON.stringify(state);
  }

  function post(url, fields, accept, signal) {
    const body = new URLSearchParams();
    body.set("state", serializeState());
    Object.keys(fields || {}).forEach(function (key) { body.set(key, fields[key]); });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      signal: signal,
      headers: { "X-CSRFToken": csrf, "Accept": accept || "application/json" },
    });
  }

  // ---------------------------------------------------------------- messages
  let announcer = null;
  function announce(text) {
    if (!announcer) {
      announcer = document.createElement("div");
      announcer.className = "sr-only";
      announcer.setAttribute("role", "status");
      document.body.append(announcer);
    }
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = text; }, 30);
  }

  const noticeBox = document.getElementById("editor-notice");
  let noticeTimer = null;
  function showNotice(text) {
    noticeBox.textContent = text;
    noticeBox.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(clearNotice, 8000);
  }

  function clearNotice() {
    noticeBox.hidden = true;
    noticeBox.textContent = "";
  }

  window.ConfigurationEditor = {
    form: form,
    // The server's last answer about the form: its problems, their counts, completions.
    data: JSON.parse(document.getElementById("editor-data").textContent),
    serializeState: serializeState,
    post: post,
    announce: announce,
    showNotice: showNotice,
    clearNotice: clearNotice,
  };
})();
