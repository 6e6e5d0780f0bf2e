// A new draft's editor is quiet: a field the partner has not touched yet shows no problem
// (the summary on top lists what is left to do, in order). The server names the untouched
// fields that have problems (data-quiet on the form); typing in one, or leaving it after
// a change, lets its problems show. Separate from editor_problems.js, which marks the
// problems: this script only hides the marks of the fields it names.
(function () {
  "use strict";
  const form = document.getElementById("editor-form");
  if (!form || !form.dataset.quiet) return;
  let targets;
  try {
    targets = JSON.parse(form.dataset.quiet);
  } catch {
    return;
  }
  targets.forEach(function (target) {
    const element = document.getElementById("f-" + target);
    if (!element) return;
    const holder = element.closest(".fld") || element;
    holder.classList.add("fld-quiet");
  });
  function touched(event) {
    const holder = event.target.closest && event.target.closest(".fld-quiet");
    if (holder) holder.classList.remove("fld-quiet");
  }
  form.addEventListener("input", touched);
  form.addEventListener("change", touched);
})();
