"""`manage.py integration …` (syncengine/management/commands/integration.py): validate,
render, export, import."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Integration
from tests.integrations.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
ACME = str(FIXTURES / "acme_list.json")


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("integration", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_validate_a_good_manifest():
    out, _ = run("validate", ACME)
    assert "valid: no problems" in out


def test_validate_reports_each_problem_with_its_place_and_exits_1():
    with pytest.raises(SystemExit) as exit_:
        run("validate", str(FIXTURES / "broken.json"))
    assert exit_.value.code == 1


def test_validate_never_shows_a_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"display_name": "x",\n  "endpoints": }')
    env = {**os.environ, "DEBUG": "true"}
    for target in (str(bad), str(tmp_path / "missing.json")):
        result = subprocess.run(
            [sys.executable, "manage.py", "integration", "validate", target],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
    broken = subprocess.run(
        [sys.executable, "manage.py", "integration", "validate", str(bad)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "error (manifest):2:16 [invalid_json]" in broken.stderr


def test_render_prints_one_json_document_for_the_first_batch():
    out, _ = run(
        "render",
        ACME,
        "--endpoint",
        "add_users",
        "--users",
        "3",
        "--var",
        "region=eu",
        "--var",
        "bearer_token=tok-1",
        "--var",
        "user_id_field_amplitude=email",
        "--list-id",
        "L-9",
    )
    document = json.loads(out)
    (request,) = document["requests"]
    assert request["method"] == "POST"
    assert request["url"] == "https://api.acme.test/eu/lists/L-9/add"
    # Credentials are masked unless asked for (--reveal, below).
    assert request["headers"]["Authorization"] == "Bearer ••••••"
    assert "tok-1" not in out
    assert len(request["body"]["userIds"]) == 3
    assert request["body"]["userIds"][0].endswith("@example.com")


def test_render_masks_secrets_wherever_they_stand_unless_revealed(tmp_path):
    manifest = json.loads(Path(ACME).read_text())
    manifest["endpoints"]["create_list"]["url"] += "?key=$bearer_token"
    manifest["endpoints"]["create_list"]["payload"] = (
        '{"name": "$cohort_name", "t": "$bearer_token"}'
    )
    path = tmp_path / "leaky.json"
    path.write_text(json.dumps(manifest))
    args = ("render", str(path), "--endpoint", "create_list", "--var", "bearer_token=s3cr3t-tok")
    masked, _ = run(*args)
    assert "s3cr3t-tok" not in masked
    (request,) = json.loads(masked)["requests"]
    assert request["body"]["t"] == "••••••"
    assert request["headers"]["Authorization"] == "Bearer ••••••"
    revealed, _ = run(*args, "--reveal")
    (request,) = json.loads(revealed)["requests"]
    assert request["headers"]["Authorization"] == "Bearer s3cr3t-tok"
    assert request["body"]["t"] == "s3cr3t-tok"
    assert request["url"].endswith("?key=s3cr3t-tok")


def test_render_defaults_to_a_full_batch_and_ignores_users_for_create_list():
    full = json.loads(run("render", ACME, "--endpoint", "remove_users")[0])
    assert len(full["requests"][0]["body"]["userIds"]) == 10_000
    created = json.loads(
        run(
            "render", ACME, "--endpoint", "create_list", "--users", "5", "--cohort-name", 'Say "hi"'
        )[0]
    )
    assert created["requests"][0]["body"] == {"name": 'Say "hi"'}


def test_render_refuses_an_endpoint_the_type_does_not_have():
    with pytest.raises(CommandError, match="has no update_users endpoint"):
        run("render", ACME, "--endpoint", "update_users")
    with pytest.raises(CommandError, match="expected NAME=VALUE"):
        run("render", ACME, "--endpoint", "add_users", "--var", "region")


def test_render_refuses_a_var_that_is_not_a_field_or_not_an_option():
    with pytest.raises(CommandError, match=r"--var regoin: not a field of this integration \("):
        run("render", ACME, "--endpoint", "add_users", "--var", "regoin=us")
    with pytest.raises(
        CommandError, match=r"--var region: 'zz' is not one of its options \(us, eu"
    ):
        run("render", ACME, "--endpoint", "add_users", "--var", "region=zz")


def test_import_then_export_round_trips(cast, tmp_path):
    out, _ = run("import", ACME, "--org", str(cast.acme.pk))
    integration = Integration.objects.get(display_name="Acme Audiences")
    assert f"imported as integration {integration.pk}" in out
    exported, _ = run("export", str(integration.pk))
    path = tmp_path / "exported.json"
    path.write_text(exported)
    integration.delete()
    run("import", str(path), "--org", str(cast.acme.pk))
    again, _ = run("export", str(Integration.objects.get().pk))
    assert again == exported


def test_import_refuses_a_taken_name_and_an_unknown_org(cast):
    run("import", ACME, "--org", str(cast.acme.pk))
    with pytest.raises(CommandError, match="already the name of another integration"):
        run("import", ACME, "--org", str(cast.acme.pk))
    with pytest.raises(CommandError, match="no organisation with ORG ID 999999"):
        run("import", ACME, "--org", "999999")
    assert Integration.objects.count() == 1
