"""What the API's schema says beyond what drf-spectacular reads from the views.

`document_errors_and_links` (a postprocessing hook, `SPECTACULAR_SETTINGS`) adds:

- the error answers every operation can give, in the one error shape of
  `portal.api.errors` (400 bad input, 401/403 authentication and permission, 404 unknown
  or another organisation's, 409 a state that does not allow it, 413 a body too large,
  415 a body in a type the operation does not read, 503 a job the task queue could not
  take; 414 from the web server for an address too long), so that clients and
  schema-driven tests know every status the server answers;
- OpenAPI links from the operations that create something to those that read it, so that
  a client (or schemathesis' stateful tests) can follow an id from one call to the next.

The operations are grouped by the app that serves them (`AppTaggedSchema`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {},
                    "description": "Messages by the input they are about.",
                },
                "details": {"type": "array", "items": {}},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

ERRORS: dict[str, str] = {
    "400": "The input was refused; `error.fields` says which and why.",
    "401": "No valid API token (or session).",
    "403": "Signed in, but without the role or the organisation flag this needs.",
    "404": "No such object in your organisation (another organisation's is the same).",
}
# Answered by the web server before the portal sees the request (its own page).
TRANSPORT_ERRORS: dict[str, str] = {"414": "The address with its query is too long."}
WRITE_ERRORS: dict[str, str] = {
    "409": "The object's state does not allow this now (a test running, a draft in review).",
    "413": "The request body is larger than this operation accepts.",
    "415": "The request body is in a media type this operation does not read.",
}
# Operations that hand work to the task queue: 503 when it cannot be reached.
ENQUEUING_SUFFIXES = ("/test-runs", "/conformance", "/rerun-test")
QUEUE_ERROR = "The task queue cannot be reached; nothing was started. Try again later."

# (operation creating something, status, the field of its answer holding the id, the path
# parameter it fills, the operations it leads to)
LINKS: list[tuple[str, str, str, str, list[str]]] = [
    (
        operation,
        status,
        "id",
        "integration_id",
        [
            "v1_integrations_retrieve",
            "v1_integrations_partial_update",
            "v1_integrations_manifest_retrieve",
            "v1_integrations_validate_retrieve",
            "v1_integrations_preview_retrieve",
            "v1_integrations_test_settings_retrieve",
            "v1_integrations_test_runs_list",
            "v1_integrations_revisions_list",
            "v1_integrations_versions_list",
            "v1_integrations_diff_retrieve",
            "v1_integrations_destroy",
        ],
    )
    for operation, status in (
        ("v1_integrations_create", "201"),
        ("v1_integrations_import_create", "201"),
        ("v1_integrations_duplicate_create", "201"),
    )
] + [
    (
        "v1_integrations_test_runs_create",
        "202",
        "id",
        "run_id",
        ["v1_test_runs_retrieve", "v1_test_runs_exchanges_list"],
    ),
    (
        "v1_projects_create",
        "201",
        "project_id",
        "project_id",
        ["v1_projects_retrieve", "v1_projects_cohorts_list", "v1_projects_cohorts_create"],
    ),
    (
        "v1_projects_cohorts_create",
        "201",
        "cohort_id",
        "cohort_id",
        [
            "v1_cohorts_retrieve",
            "v1_cohorts_members_list",
            "v1_cohorts_members_add_create",
            "v1_cohorts_destroy",
        ],
    ),
    (
        "v1_connections_create",
        "201",
        "id",
        "connection_id",
        [
            "v1_connections_retrieve",
            "v1_connections_partial_update",
            "v1_connections_syncs_list",
            "v1_connections_syncs_create",
            "v1_connections_destroy",
        ],
    ),
    (
        "v1_connections_syncs_create",
        "201",
        "id",
        "sync_id",
        [
            "v1_syncs_retrieve",
            "v1_syncs_partial_update",
            "v1_syncs_pause_create",
            "v1_syncs_sync_now_create",
            "v1_syncs_runs_list",
            "v1_syncs_destroy",
        ],
    ),
    (
        "v1_syncs_sync_now_create",
        "202",
        "id",
        "sync_run_id",
        ["v1_sync_runs_retrieve", "v1_sync_runs_batches_list", "v1_sync_runs_exchanges_list"],
    ),
]


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def document_errors_and_links(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    by_id: dict[str, dict[str, Any]] = {}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            by_id[operation.get("operationId", "")] = operation
            responses = operation.setdefault("responses", {})
            errors = dict(ERRORS)
            if method != "get":
                errors.update(WRITE_ERRORS)
            if method == "post" and path.endswith(ENQUEUING_SUFFIXES):
                errors["503"] = QUEUE_ERROR
            for status, description in errors.items():
                responses.setdefault(status, _error_response(description))
            for status, description in TRANSPORT_ERRORS.items():
                responses.setdefault(status, {"description": description})
    for source, status, field, parameter, targets in LINKS:
        response = by_id.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        links = response.setdefault("links", {})
        for target in targets:
            if target in by_id:
                links[target] = {
                    "operationId": target,
                    "parameters": {parameter: f"$response.body#/{field}"},
                }
    return result


# The tag of each app's operations; SPECTACULAR_SETTINGS["TAGS"] describes each tag.
APP_TAGS: dict[str, str] = {
    "portal": "Organisations",
    "integrations": "Integrations",
    "syncengine": "Testing",
    "reviews": "Reviews",
    "syncs": "Cohort syncs",
}


class AppTaggedSchema(AutoSchema):
    """Tags each operation with the app whose view serves it, not with the URL's first
    segment (which is `v1` for all of them)."""

    def get_tags(self) -> list[str]:
        app = type(self.view).__module__.split(".")[0]
        return [APP_TAGS.get(app, app)]
