"""The Testing Integration panel and the problem summary, for any manifest.

After each pause in typing the editor posts its form state and gets back the right-hand
panel and the problem summary, rendered from `testing_panel`; `client_data` is the small
part of it the editor's script needs. The panel puts together the engine's reports
(diagnostics, the variable tracker, the request previews) with the pieces built by
`paths`, `tracker`, `completions` and `modal`; the review pages show the same panel for a
submitted version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from integrations.configuration import analyze, preview_report, validation_report
from integrations.editor.completions import variable_suggestions
from integrations.editor.labels import request_label
from integrations.editor.modal import connect_modal
from integrations.editor.paths import annotate
from integrations.editor.tracker import annotate_tracker, tracker_rows
from portal.fragments import fragment_key, stamped_key
from syncengine.core.jsonpath import PathSyntaxError, parse_path
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.core.manifest.schema import CREATE_LIST, INTEGRATION_TYPES
from syncengine.core.manifest.variables import PREDEFINED_VARIABLES
from syncengine.core.preview import SAMPLE_COHORT_ID, SAMPLE_COHORT_NAME, SAMPLE_LIST_ID

MAX_EXAMPLE_INDEX = 20
# The Testing panel's sections, by their elements' ids (`integrations/_testing.html`).
SECTIONS = ("tp-modal", "tp-tracker", "tp-requests")


def example_list_response(list_id_path: Any, list_id: str) -> str | None:
    """The smallest create_list response body that carries `list_id` at `list_id_path`
    (none when an index is too large to make a readable example)."""
    try:
        segments = parse_path(list_id_path)
    except PathSyntaxError:
        return None
    if any(isinstance(s, int) and s > MAX_EXAMPLE_INDEX for s in segments):
        return None
    document: Any = list_id
    for segment in reversed(segments):
        if isinstance(segment, int):
            document = [{} for _ in range(segment)] + [document]
        else:
            document = {segment: document}
    return json.dumps(document, indent=2)


def testing_panel(manifest: Mapping[str, Any], *, normalized: bool = False) -> dict[str, Any]:
    """What the right panel and the problem summary show for a manifest (any manifest).

    The manifest is normalised (unless `normalized` says it is already), checked and
    compiled once: the problems, the tracker and the previews share that work, and a
    configuration previewed a moment ago is not checked or compiled again."""
    doc = dict(manifest) if normalized else normalize_manifest(dict(manifest))
    analysis = analyze(doc)
    report = validation_report(doc, analysis=analysis)
    preview = preview_report(doc, analysis=analysis)
    problems = [annotate(d, doc) for d in report["diagnostics"]]
    for endpoint in preview["endpoints"]:
        endpoint["label"] = request_label(endpoint["endpoint"])
        endpoint["anchor"] = endpoint["endpoint"].replace(".", "-")
        endpoint["errors"] = [annotate(d, doc) for d in endpoint["errors"]]
    tracker = annotate_tracker(report["tracker"], doc)
    rows = tracker_rows(tracker)
    create_list = (doc.get("endpoints") or {}).get(CREATE_LIST)
    return {
        "valid": report["valid"],
        "error_count": report["error_count"],
        "warning_count": report["warning_count"],
        "problems": problems,
        "tracker": tracker,
        "tracker_rows": rows,
        "tracker_problem_count": sum(row["status"] == "error" for row in rows),
        "tracker_warning_count": sum(row["status"] == "warning" for row in rows),
        "predefined": [
            {"name": name, "description": variable.description, "where": variable.where}
            for name, variable in PREDEFINED_VARIABLES.items()
        ],
        "preview": preview,
        "modal": connect_modal(doc),
        "suggestions": variable_suggestions(doc),
        "sample": {
            "cohort_id": SAMPLE_COHORT_ID,
            "cohort_name": SAMPLE_COHORT_NAME,
            "list_id": SAMPLE_LIST_ID,
        },
        "integration_type": doc.get("integration_type")
        if doc.get("integration_type") in INTEGRATION_TYPES
        else None,
        "list_response": example_list_response(
            create_list.get("list_id_path") if isinstance(create_list, dict) else None,
            SAMPLE_LIST_ID,
        )
        if isinstance(create_list, dict)
        else None,
    }


def section_keys(panel: Mapping[str, Any], *, name: str, logo_url: str | None) -> dict[str, str]:
    """A key per section of the Testing panel (`SECTIONS`), a hash of everything it shows:
    each section is rendered once per key and kept (portal.fragments), and the editor,
    which sends the keys of the sections it shows, is sent only those whose key changed.
    `name` and `logo_url` are the integration's, which the Connect modal shows."""
    keys = {
        "tp-modal": fragment_key(name, logo_url, panel["modal"]),
        "tp-tracker": fragment_key(
            panel["tracker_problem_count"],
            panel["tracker_warning_count"],
            panel["tracker_rows"],
            panel["predefined"],
        ),
        "tp-requests": fragment_key(panel["preview"], panel["sample"], panel["list_response"]),
    }
    return {section: stamped_key(key) for section, key in keys.items()}


def client_data(panel: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the panel the editor's script needs: problems to mark, completions
    (and their key: the editor sends it back, and is not sent the same completions again)."""
    return {
        "problems": [
            {
                key: problem.get(key)
                for key in ("severity", "code", "message", "path", "line", "column", "target")
            }
            for problem in panel["problems"]
        ],
        "suggestions": panel["suggestions"],
        "suggestions_key": fragment_key(panel["suggestions"]),
        "valid": panel["valid"],
        "error_count": panel["error_count"],
        "warning_count": panel["warning_count"],
    }
