"""The words the editor uses for endpoints and manifest keys.

The form's sections, the problem summary, the variable tracker and the revision history all
name the same parts of a manifest; keeping the words in one place keeps them saying the
same thing.
"""

from __future__ import annotations

ENDPOINT_LABELS = {
    "create_list": "List creation endpoint",
    "add_users": "Add users endpoint",
    "remove_users": "Remove users endpoint",
    "update_users": "Update users endpoint",
}
ENDPOINT_SHORT_LABELS = {
    "create_list": "Create list",
    "add_users": "Add users",
    "remove_users": "Remove users",
    "update_users": "Update users",
}
# An endpoint's other requests (manifest version 2), as the panel names them.
REQUEST_LABELS = {
    "lookup": "lookup",
    "create": "create request",
    "find": "find request",
}
# The headings of an endpoint's requests in the editor form.
REQUEST_TITLES = {
    "main": "Request",
    "lookup": "Lookup of partner ids",
    "create": "Create request for users not found",
    "find": "Find an existing list first",
}
# The parts of an endpoint (and the auth settings) a variable can be used in.
PART_LABELS = {
    "url": "URL",
    "headers": "headers",
    "payload": "payload",
    "item_template": "item template",
    "auth": "auth settings",
    "key": "key",
    "match": "name to match",
}
# Labels for path segments the summary and the revision diff show.
KEY_LABELS = {
    "display_name": "display name",
    "integration_type": "integration type",
    "slugify_cohort_name": "slugify cohort name",
    "logo_png_base64": "logo",
    "manifest_version": "manifest version",
    "help_text": "help text",
    "list_id_path": "list id path",
    "batch_size": "batch size",
    "item_template": "item template",
    "sub_code": "sub-code",
    "sub_code_path": "sub-code path",
    "max_concurrency": "max concurrency",
    "requests_per_second": "requests per second",
    "sign_requests": "sign requests",
    "header_name": "header name",
    "value_template": "value template",
    "username_variable": "username variable",
    "password_variable": "password variable",
    "token_variable": "token variable",
    "url": "URL",
    "if_missing": "if missing",
    "mode": "mode",
    "results_path": "results path",
    "result_key_path": "result key path",
    "partner_id_path": "partner id path",
    "ignore_case": "ignore case",
    "not_found": "not found",
    "match_path": "match path",
}


def request_label(name: str) -> str:
    """A request of the preview in words: `add_users.lookup` -> `Add users endpoint ›
    lookup`."""
    endpoint, _, role = name.partition(".")
    label = ENDPOINT_LABELS.get(endpoint, endpoint)
    return f"{label} › {REQUEST_LABELS.get(role, role)}" if role else label


def part_label(part: str) -> str:
    """A part below an endpoint in words: `lookup.create.payload` -> `lookup create request
    payload`."""
    *requests, base = part.split(".")
    return " ".join([*(REQUEST_LABELS.get(r, r) for r in requests), PART_LABELS.get(base, base)])
