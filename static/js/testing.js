// The Testing panel's small enhancements (templates/syncengine/_testing_panel.html).
// Everything is delegated from the document, so panels swapped in by htmx work too, and
// the script is safe to load twice. No inline scripts (CSP).
(function () {
  "use strict";
  if (window.cohortTestingPanel) return;
  window.cohortTestingPanel = true;

  function panelOf(element) {
    return element.closest ? element.closest("[data-testing-panel]") : null;
  }

  // Choosing a CSV file means "the users come from this CSV".
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target.matches && target.matches("[data-csv-input]") && target.files.length) {
      const panel = panelOf(target);
      const radio = panel && panel.querySelector('input[name="users_source"][value="csv"]');
      if (radio) radio.checked = true;
    }
    if (target.matches && target.matches("[data-project-select]")) {
      filterCohorts(panelOf(target));
      showKeyHint(panelOf(target));
    }
  });

  // The cohort list shows the chosen project's cohorts (cohorts are sampled per project).
  function filterCohorts(panel) {
    if (!panel) return;
    const project = panel.querySelector("[data-project-select]");
    const cohorts = panel.querySelector("[data-cohort-select]");
    if (!project || !cohorts) return;
    cohorts.querySelectorAll("optgroup").forEach(function (group) {
      const other = project.value && group.dataset.project !== project.value;
      group.hidden = other;
      group.disabled = other;
      if (other && group.contains(cohorts.selectedOptions[0])) cohorts.value = "";
    });
  }

  // The API key field says what a blank key means for the chosen project: the saved key,
  // the sandbox's own (filled in by the platform), or nothing yet.
  function showKeyHint(panel) {
    if (!panel) return;
    const project = panel.querySelector("[data-project-select]");
    const key = panel.querySelector("[data-api-key]");
    const option = project && project.selectedOptions[0];
    if (key && option && option.dataset.keyHint) key.placeholder = option.dataset.keyHint;
  }

  function enhance(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-testing-panel]").forEach(filterCohorts);
    if (root.matches && root.matches("[data-testing-panel]")) filterCohorts(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });

  // When a test finishes, say so to screen readers and bring a failure's diagnosis into view.
  document.addEventListener("htmx:afterSettle", function (event) {
    const poll = event.target;
    if (!poll.id || !/^tst-run-\d+-poll$/.test(poll.id) || !poll.dataset.finished) return;
    const run = poll.closest(".tst-run");
    if (!run) return;
    run.dataset.status = poll.dataset.finished;
    const diagnosis = run.querySelector(".tst-diagnosis");
    if (diagnosis && diagnosis.scrollIntoView) diagnosis.scrollIntoView({ block: "nearest" });
  });

  // htmx "settles" a swap by copying the old elements' attributes (style among them) onto
  // the new ones with the same id. The browser may have put an empty style="" on inputs
  // (autofill does), and setting it again is refused by the CSP and reported as an error.
  // Inline styles can do nothing under this CSP, so they are dropped before the swap.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    if (!target || !target.closest || !target.closest("[data-testing-panel]")) return;
    target.querySelectorAll("[style]").forEach(function (element) {
      element.removeAttribute("style");
    });
    if (target.hasAttribute("style")) target.removeAttribute("style");
  });

  // After starting a run, the new run block is where the partner looks next. The swap
  // replaced the button that had the focus, so the focus moves there too (a keyboard user
  // would otherwise start again from the top of the page).
  document.addEventListener("htmx:afterSwap", function (event) {
    const panel = event.target;
    if (!panel.matches || !panel.matches("[data-testing-panel]")) return;
    const error = panel.querySelector(".tst-error");
    const running = panel.querySelector('.tst-run[data-status="queued"], .tst-run[data-status="running"]');
    const target = error || (running && (running.querySelector(".tst-run-head") || running));
    if (!target) return;
    if (!document.activeElement || document.activeElement === document.body) {
      if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
      target.focus({ preventScroll: true });
    }
    if (target.scrollIntoView) target.scrollIntoView({ block: "nearest" });
  });
})();
