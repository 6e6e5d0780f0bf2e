"""The Part 2 editor: its form state as a manifest and back, and what its panels show.

Everything in this package is pure: no database, no request. Business rules stay in the
engine core; these modules translate between the form and the manifest and present the
core's reports (diagnostics, the variable tracker, previews) for the templates.

- `inputs`: how the form's inputs are named after manifest paths, and how a stored value
  shows in one;
- `form_state`: the posted form state, read back into a manifest;
- `form_rows`: the rows and inputs the form renders for a manifest;
- `parts`: an endpoint's optional parts (a lookup, its create request, a find request,
  a request's own credentials) and what a newly added one starts with;
- `auth_switch`: changing the auth method without losing the partner's fields;
- `paths`: the input a diagnostic's manifest path lands on, and that path in words;
- `labels`: the words for endpoints and manifest keys, shared by the form, the panel and
  the history;
- `panel`: the Testing Integration panel and the problem summary, built with `tracker`
  (the variable tracker), `completions` (`$` completion) and `modal` (the end user's
  Connect modal);
- `revision_diff`: the history page's rows for the changes between two revisions.
"""
