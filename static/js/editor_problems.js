// Problems the server found, shown on the fields they are about: a message under the
// input (or at the top of a section), aria-invalid, underlines in code fields. A link with
// data-focus (the summary's, the Testing panel's) moves the cursor to its field.
(function () {
  "use strict";

  const editor = window.ConfigurationEditor;
  if (!editor) return;
  const form = editor.form;

  // ---------------------------------------------------------------- problems on fields
  function resolve(path) {
    let candidate = path || "";
    while (candidate) {
      const element = document.getElementById("f-" + candidate);
      if (element && element.getClientRects().length) return element;
      const cut = candidate.lastIndexOf(".");
      if (cut < 0) break;
      candidate = candidate.slice(0, cut);
    }
    return document.getElementById("f-" + (path || "").split(".")[0]);
  }

  function isControl(element) {
    return element && ["INPUT", "SELECT", "TEXTAREA"].includes(element.tagName);
  }

  function clearProblems() {
    form.querySelectorAll(".fld-msgs[data-generated]").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    form.querySelectorAll("[data-described-by]").forEach(function (node) {
      if (node.dataset.describedBy) node.setAttribute("aria-describedby", node.dataset.describedBy);
      else node.removeAttribute("aria-describedby");
      delete node.dataset.describedBy;
    });
    if (window.CodeFields) window.CodeFields.clearMarks(form);
  }

  function problemBox(element, target, problems) {
    const box = document.createElement("div");
    box.className = "fld-msgs";
    box.dataset.generated = "1";
    box.id = (element.id || "f-" + target) + "-problems";
    problems.slice(0, 4).forEach(function (problem) {
      const line = document.createElement("p");
      line.className = "fld-msg sev-" + problem.severity;
      const where = problem.line ? "Line " + problem.line + ", column " + (problem.column || 1) + ": " : "";
      line.textContent = where + problem.message;
      box.append(line);
    });
    return box;
  }

  function applyProblems() {
    clearProblems();
    if (window.CodeFields) window.CodeFields.setSuggestions(editor.data.suggestions);
    const byTarget = new Map();
    editor.data.problems.forEach(function (problem) {
      if (!byTarget.has(problem.target)) byTarget.set(problem.target, []);
      byTarget.get(problem.target).push(problem);
    });
    byTarget.forEach(function (problems, target) {
      const element = resolve(target);
      if (!element || !form.contains(element)) return;
      const box = problemBox(element, target, problems);
      if (isControl(element)) {
        (element.closest(".fld") || element.parentElement).append(box);
        if (problems.some(function (p) { return p.severity === "error"; })) element.setAttribute("aria-invalid", "true");
        element.dataset.describedBy = element.getAttribute("aria-describedby") || "";
        element.setAttribute("aria-describedby", (element.dataset.describedBy + " " + box.id).trim());
        if (element.tagName === "TEXTAREA" && window.CodeFields) {
          window.CodeFields.setMarks(element, problems.filter(function (p) { return p.line; }));
        }
      } else {
        box.classList.add("fld-msgs-block");
        const anchor = element.querySelector(":scope > .section-head, :scope > fieldset > legend, :scope > .options-head");
        if (anchor) anchor.after(box);
        else element.prepend(box);
      }
    });
  }

  // ---------------------------------------------------------------- focusing a field
  function focusTarget(target, line, column) {
    const element = resolve(target);
    if (!element) return;
    const control = isControl(element) ? element : element.querySelector("input:not([type=hidden]), select, textarea, button");
    element.scrollIntoView({ block: "center", behavior: "smooth" });
    const flashing = isControl(element) ? (element.closest(".code") || element) : element;
    flashing.classList.remove("flash");
    void flashing.offsetWidth;
    flashing.classList.add("flash");
    if (!control) return;
    if (control.tagName === "TEXTAREA" && line && window.CodeFields) window.CodeFields.focusAt(control, line, column);
    else control.focus({ preventScroll: true });
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("[data-focus]");
    if (!link) return;
    event.preventDefault();
    focusTarget(link.dataset.focus, link.dataset.line, link.dataset.column);
  });

  editor.applyProblems = applyProblems;
})();
