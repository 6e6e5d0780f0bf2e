// The editor's live preview: while the partner types, the form state goes to the server
// and only the Testing Integration panel (or the sections of it that changed) and the
// problem summary are replaced, keeping the panel's scroll, focus and opened details.
// Moving to another part of the form brings its request into view in the panel.
(function () {
  "use strict";

  const editor = window.ConfigurationEditor;
  if (!editor) return;
  const { form, post, announce, showNotice, clearNotice } = editor;
  const panel = document.getElementById("testing-body");
  const summaryHost = document.getElementById("problem-summary");
  const liveBadge = document.querySelector("[data-live-state]");
  const PREVIEW_DELAY = 250;

  let previewTimer = null;
  let previewController = null;
  let summaryCollapsed = false;
  const openDetails = new Set();

  // ---------------------------------------------------------------- live preview
  function schedulePreview(delay) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, delay === undefined ? PREVIEW_DELAY : delay);
  }

  function runPreview() {
    if (previewController) previewController.abort();
    const controller = new AbortController();
    previewController = controller;
    if (liveBadge) liveBadge.classList.add("is-busy");
    post(form.dataset.previewUrl, { shown: JSON.stringify(shownKeys()) }, "application/json", controller.signal)
      .then(function (response) { return response.json().then(function (body) { return { ok: response.ok, body: body }; }); })
      .then(function (result) {
        if (controller !== previewController) return;
        if (!result.ok) { showNotice(result.body.error ? result.body.error.message : "The preview failed."); return; }
        clearNotice();
        if (typeof result.body.panel === "string") swapPanel(result.body.panel);
        else swapSections(result.body.sections || "");
        swapSummary(result.body.summary);
        const before = editor.data;
        const data = editor.data = result.body.data;
        // Completions come only when they changed.
        if (!("suggestions" in data)) data.suggestions = before.suggestions;
        editor.applyProblems();
        if (before.error_count !== data.error_count || before.warning_count !== data.warning_count) {
          announce(data.error_count || data.warning_count
            ? data.error_count + " errors, " + data.warning_count + " warnings."
            : "No problems found.");
        }
      })
      .catch(function (error) { if (error.name !== "AbortError") showNotice("The preview could not be updated; retrying when you type again."); })
      .finally(function () {
        if (controller === previewController) {
          previewController = null;
          if (liveBadge) liveBadge.classList.remove("is-busy");
        }
      });
  }

  // What the panel shows, by section id, and the completions the script has: the server
  // answers with only the sections (and completions) whose key differs.
  function shownKeys() {
    const keys = {};
    panel.querySelectorAll("section[id][data-key]").forEach(function (section) {
      keys[section.id] = section.dataset.key;
    });
    if (editor.data.suggestions_key) keys.suggestions = editor.data.suggestions_key;
    return keys;
  }

  function swapPanel(html) {
    keepingPlace(function () { panel.innerHTML = html; return [panel]; });
  }

  function swapSections(html) {
    if (!html) return;
    keepingPlace(function () {
      const holder = document.createElement("template");
      holder.innerHTML = html;
      return Array.from(holder.content.querySelectorAll("section[id]")).map(function (section) {
        const shown = document.getElementById(section.id);
        if (shown && panel.contains(shown)) shown.replaceWith(section);
        else panel.append(section);
        return section;
      });
    });
  }

  // Replace part of the panel keeping its scroll position, the focused element and the
  // details the partner opened.
  function keepingPlace(replace) {
    const scroll = panel.scrollTop;
    const focusedId = panel.contains(document.activeElement) ? document.activeElement.id : null;
    replace().forEach(function (root) {
      root.querySelectorAll("details[class]").forEach(function (details) {
        details.open = openDetails.has(details.className);
      });
    });
    panel.scrollTop = scroll;
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function swapSummary(html) {
    summaryHost.innerHTML = html;
    applySummaryState();
  }

  function applySummaryState() {
    const summary = summaryHost.querySelector(".summary");
    const toggle = summaryHost.querySelector("[data-summary-toggle]");
    if (!summary || !toggle) return;
    summary.classList.toggle("is-collapsed", summaryCollapsed);
    toggle.setAttribute("aria-expanded", summaryCollapsed ? "false" : "true");
    toggle.textContent = summaryCollapsed ? "Show details" : "Hide details";
  }

  panel.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.className) return;
    if (details.open) openDetails.add(details.className);
    else openDetails.delete(details.className);
  }, true);

  summaryHost.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-summary-toggle]");
    if (!toggle) return;
    summaryCollapsed = !summaryCollapsed;
    applySummaryState();
  });

  // ---------------------------------------------------------------- the panel follows
  // Working on an endpoint brings its rendered request into view; working on fields
  // brings the Connect modal. Only when moving to another section, never while typing.
  let followed = null;
  form.addEventListener("focusin", function (event) {
    const section = event.target.closest("[data-part]:not(.part-auth), [data-endpoint], #f-custom_fields, #f-mapping_fields, #f-auth");
    if (!section || section === followed || window.matchMedia("(max-width: 1180px)").matches) return;
    followed = section;
    // The page opening with the cursor in a field that has a problem (app.js) is not the
    // partner moving there: the panel opens at its top.
    if (document.readyState !== "complete") return;
    const request = section.dataset.part ? section.dataset.part.replace(/^endpoints\./, "").replace(/\./g, "-") : section.dataset.endpoint;
    const target = request
      ? document.getElementById("tp-req-" + request)
      : document.getElementById("tp-modal");
    if (!target) return;
    const top = target.getBoundingClientRect().top - panel.getBoundingClientRect().top + panel.scrollTop;
    panel.scrollTo({ top: Math.max(0, top - 8), behavior: "smooth" });
  });

  editor.schedulePreview = schedulePreview;
  editor.applySummaryState = applySummaryState;
})();
