"""The live preview's work (integrations/views/editor_page.py, integrations/configuration.py):
one normalisation, one check and one compile per preview, none again for a configuration
previewed a moment ago, and a compressed answer that carries no secret."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from integrations import configuration
from syncengine.core.template import json_parser
from tests.integrations.forms import form_values, state_post


@pytest.fixture
def counted(monkeypatch):
    """How many times each step of the engine ran."""
    counts = {"check": 0, "compile": 0, "parse": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        configuration, "check_manifest", counting("check", configuration.check_manifest)
    )
    monkeypatch.setattr(
        configuration,
        "compile_manifest_partially",
        counting("compile", configuration.compile_manifest_partially),
    )
    monkeypatch.setattr(
        json_parser._JsonTemplateParser,
        "parse",
        counting("parse", json_parser._JsonTemplateParser.parse),
    )
    return counts


def forget(counts):
    """As in a fresh process: nothing analysed or parsed yet, nothing counted."""
    json_parser.parse_json_template.cache_clear()
    configuration._analyses.clear()
    for key in counts:
        counts[key] = 0


def preview(client, draft, state, **extra):
    return client.post(f"/portal/integrations/{draft.pk}/preview", state_post(state, **extra))


def test_a_preview_checks_and_compiles_once_and_not_again_for_the_same_configuration(
    alice, draft, counted
):
    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    forget(counted)
    assert preview(alice, draft, state).status_code == 200
    assert counted["check"] == 1
    assert counted["compile"] == 1
    templates = counted["parse"]
    assert templates > 0  # each template text parsed once for the check and the compile

    for key in counted:
        counted[key] = 0
    assert preview(alice, draft, state).status_code == 200
    assert (counted["check"], counted["compile"], counted["parse"]) == (0, 0, 0)

    # An edit is checked and compiled again; the templates it did not touch are not parsed.
    edited = next(key for key in state if key.endswith(".display_name"))
    for key in counted:
        counted[key] = 0
    body = preview(alice, draft, state | {edited: "Renamed field"}).json()
    assert (counted["check"], counted["compile"], counted["parse"]) == (1, 1, 0)
    assert "Renamed field" in body["panel"]


def test_the_preview_is_compressed_and_carries_no_secret_or_csrf_token(alice, draft):
    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    secret_key = next(key for key, value in state.items() if key.endswith(".secret") and value)
    prefix = secret_key.removesuffix(".secret")
    state[f"{prefix}.default_text"] = "hunter2-secret-value"
    plain = preview(alice, draft, state)
    packed = alice.post(
        f"/portal/integrations/{draft.pk}/preview",
        state_post(state),
        headers={"Accept-Encoding": "gzip"},
    )
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    text = gzip.decompress(packed.content).decode()
    assert len(packed.content) < len(plain.content) / 3
    assert json.loads(text) == plain.json()
    assert "hunter2-secret-value" not in text
    assert "csrfmiddlewaretoken" not in text
    assert alice.cookies["csrftoken"].value not in text


def test_the_editor_page_is_compressed_below_100_kb_on_the_wire(alice, draft):
    url = f"/portal/integrations/{draft.pk}/configure"
    plain = alice.get(url)
    packed = alice.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed["Content-Encoding"] == "gzip"
    page = gzip.decompress(packed.content).decode()
    assert 'id="editor-form"' in page
    # The same page, but for the CSRF token, masked anew on every response.
    assert len(page) == len(plain.content.decode())
    assert len(packed.content) < 100 * 1024


def test_typing_outside_the_variables_keeps_the_completions_and_a_new_variable_renews_them(
    alice, draft, monkeypatch
):
    from integrations.editor import completions
    from portal.fragments import forget_fragments

    forget_fragments()  # the page builds its panel, as it does for a new configuration
    worked_out = []

    def counting(*args):
        worked_out.append(1)
        return work(*args)

    work = completions._suggestions
    monkeypatch.setattr(completions, "_suggestions", counting)
    completions._kept.clear()
    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    assert len(worked_out) == 1  # the page offers them too
    worked_out.clear()
    first = preview(alice, draft, state).json()["data"]["suggestions"]
    assert worked_out == []  # the same declarations as the page's

    help_text = next(key for key in state if key.endswith(".help_text"))
    again = preview(alice, draft, state | {help_text: "Typed help"}).json()["data"]["suggestions"]
    assert again == first and worked_out == []

    variable = next(
        key for key in state if key.startswith("custom_fields.") and key.endswith(".variable")
    )
    renamed = preview(alice, draft, state | {variable: "renamed_var"}).json()["data"]["suggestions"]
    assert len(worked_out) == 1
    payload_names = {each["name"] for each in renamed["endpoints.add_users.payload"]}
    assert "renamed_var" in payload_names and state[variable] not in payload_names
    assert state[variable] in {each["name"] for each in first["endpoints.add_users.payload"]}


def test_a_preview_renders_only_the_panel_sections_an_edit_changed(alice, draft):
    from portal import fragments

    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    fragments.forget_fragments()

    def rendered(body):
        before = set(fragments._kept.keys())
        panel = preview(alice, draft, body).json()["panel"]
        return sorted(name for name, _ in set(fragments._kept.keys()) - before), panel

    names, first = rendered(state)
    assert names == ["tp-modal", "tp-requests", "tp-tracker"]
    assert rendered(state) == ([], first)

    help_text = next(key for key in state if key.endswith(".help_text"))
    names, panel = rendered(state | {help_text: "Where the partner finds it"})
    assert names == ["tp-modal"] and "Where the partner finds it" in panel

    payload = next(key for key in state if key.endswith("add_users.payload"))
    edited = state[payload].replace("{", '{"marker_key": 1, ', 1)
    names, panel = rendered(state | {payload: edited})
    assert "tp-requests" in names and "tp-modal" not in names
    assert "marker_key" in panel


def test_a_help_text_edit_compiles_no_request_and_keeps_the_tracker_and_the_requests(
    alice, draft, monkeypatch
):
    from syncengine.core import compiler

    configuration.forget_analyses()  # as in a fresh process
    compiler._compiled_requests.clear()
    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    assert preview(alice, draft, state).status_code == 200
    work = {"request": 0, "tracker": 0, "preview": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            work[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        compiler, "_compile_new_request", counting("request", compiler._compile_new_request)
    )
    monkeypatch.setattr(
        configuration, "track_variables", counting("tracker", configuration.track_variables)
    )
    monkeypatch.setattr(
        configuration, "preview_manifest", counting("preview", configuration.preview_manifest)
    )
    help_text = next(key for key in state if key.endswith(".help_text"))
    body = preview(alice, draft, state | {help_text: "Where the partner finds it"}).json()
    assert "Where the partner finds it" in body["panel"]
    assert work == {"request": 0, "tracker": 0, "preview": 0}

    # An edit of one payload compiles that request again, and only that one.
    payload = next(key for key in state if key.endswith("add_users.payload"))
    edited = state[payload].replace("{", '{"marker_key": 1, ', 1)
    body = preview(alice, draft, state | {payload: edited}).json()
    assert "marker_key" in body["panel"]
    assert work == {"request": 1, "tracker": 1, "preview": 1}


def test_the_kept_tracker_and_requests_are_those_of_the_configuration_shown():
    """The texts only people read change neither the tracker nor the rendered requests, so
    those kept for one configuration are right for another that differs only in them."""
    from syncengine.core.manifest.normalize import normalize_manifest
    from syncengine.core.preview import preview_manifest
    from syncengine.core.tracker import track_variables
    from tests.integrations.conftest import fixture_manifest

    for name in ("acme_list", "property_basic", "directory_list", "jsonapi_list"):
        manifest = normalize_manifest(fixture_manifest(name))
        relabelled = normalize_manifest(fixture_manifest(name))
        relabelled["display_name"] = "Another name"
        for field in relabelled["custom_fields"] + relabelled["mapping_fields"]:
            field["display_name"] = "Renamed"
            field["help_text"] = "Other help"
            for option in field.get("options") or []:
                if isinstance(option, dict):
                    option["label"] = "Other label"
        assert configuration.engine_fingerprint(manifest) == configuration.engine_fingerprint(
            relabelled
        )
        assert configuration.fingerprint(manifest) != configuration.fingerprint(relabelled)
        assert track_variables(manifest) == track_variables(relabelled)
        assert preview_manifest(manifest) == preview_manifest(relabelled)


KEY = re.compile(r'data-key="([^"]+)"')
SECTION = re.compile(r'<section class="tp-section"[^>]* id="(tp-[a-z]+)"[^>]*>.*?</section>', re.S)


def sections_of(html):
    return {match.group(1): match.group(0) for match in SECTION.finditer(html)}


def test_an_answer_with_only_what_changed_shows_what_the_whole_answer_shows(alice, draft):
    """The editor sends the keys of what it shows and is sent only what changed; after any
    sequence of edits, what it then shows is what a whole answer would show."""
    page = alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode()
    state = form_values(page)
    shown = sections_of(page)
    assert sorted(shown) == ["tp-modal", "tp-requests", "tp-tracker"]
    data = json.loads(re.search(r'id="editor-data"[^>]*>(.*?)</script>', page, re.S).group(1))

    help_text = next(key for key in state if key.endswith(".help_text"))
    payload = next(key for key in state if key.endswith("add_users.payload"))
    variable = next(
        key for key in state if key.startswith("custom_fields.") and key.endswith(".variable")
    )
    secret = next(key for key, value in state.items() if key.endswith(".secret") and value)
    edits = [
        {help_text: "First help"},
        {help_text: "First help"},  # nothing changed
        {payload: state[payload].replace("{", '{"marker_key": 1, ', 1)},
        {variable: "renamed_var"},
        {payload: "{ not json"},
        {help_text: "Second help", payload: state[payload]},
        {secret.removesuffix(".secret") + ".default_text": "hunter2-secret-value"},
        {},
    ]
    sent = []
    for edit in edits:
        state = state | edit
        keys = {name: KEY.search(html).group(1) for name, html in shown.items()}
        keys["suggestions"] = data["suggestions_key"]
        partial = preview(alice, draft, state, shown=json.dumps(keys)).json()
        whole = preview(alice, draft, state).json()
        shown |= sections_of(partial["sections"])
        sent.append(sorted(sections_of(partial["sections"])))
        suggestions = partial["data"].get("suggestions", data["suggestions"])
        data = partial["data"] | {"suggestions": suggestions}
        assert shown == sections_of(whole["panel"])
        assert partial["summary"] == whole["summary"]
        assert data == whole["data"]
        assert "hunter2-secret-value" not in json.dumps(partial)
    assert sent[0] == ["tp-modal"]
    assert sent[1] == []
    assert "tp-requests" in sent[2] and "tp-modal" not in sent[2]


def test_keys_of_what_is_shown_that_are_not_an_object_of_text_are_refused(alice, draft):
    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    for shown in ("[1]", '{"tp-modal": 1}', "not json"):
        answer = preview(alice, draft, state, shown=shown)
        assert answer.status_code == 400
        assert answer.json()["error"]["field"] == "shown"
