// The Part 2 editor: live preview, autosave, rows, and problems shown on the fields.
//
// The form is never re-rendered while the partner types: only the Testing Integration
// panel and the problem summary are replaced, so focus and caret stay where they are.
// Every rule lives on the server; these scripts send the form state and show the answers.
//
// Plain deferred scripts, loaded in this order by templates/integrations/editor.html,
// after codefield.js (window.CodeFields):
//   editor_state.js     the form state and posting it, messages (window.ConfigurationEditor)
//   editor_problems.js  problems shown on the fields, links that move to a field
//   editor_preview.js   the Testing panel and summary replaced as the partner types
//   editor_save.js      autosave, named revisions, Ctrl+S, leaving with unsaved changes
//   editor_rows.js      rows, optional parts, auth method: the form's shape
//   editor.js           this file, last: sets the page up once every part is loaded
(function () {
  "use strict";

  const editor = window.ConfigurationEditor;
  if (!editor) return;
  if (window.CodeFields) window.CodeFields.init(editor.form);
  editor.applyWhen(editor.form);
  editor.applyProblems();
  editor.applySummaryState();
})();