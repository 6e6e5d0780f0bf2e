"""`manage.py integration test`: the worker's test code, synchronous, printed; exit 0 only
when the test passed, never a traceback."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.syncengine.conftest import TOKEN, list_manifest, property_manifest, with_endpoint

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, manifest: dict, name: str = "manifest.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(manifest))
    return str(path)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("integration", "test", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def command_process(
    *args: str, python_options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`manage.py integration test` in a process of its own, as a partner runs it."""
    env = {**os.environ, "DEBUG": "true", "OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true"}
    return subprocess.run(
        [sys.executable, *python_options, "manage.py", "integration", "test", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_full_test_prints_each_exchange_and_passes(tmp_path, partner):
    file = write(tmp_path, list_manifest(partner.url, batch_size=10))

    out, err = run(
        file, "--var", f"bearer_token={TOKEN}", "--var", "user_id_field=email", "--users", "25"
    )

    assert "== create_list" in out and "== add_users 25 users in 3 requests" in out
    assert out.count("-> POST") == 4 and out.count("-> DELETE") == 1
    assert "Authorization: Bearer ••••••" in out
    assert TOKEN not in out + err
    assert "<- 201 Created" in out
    assert re.search(r"Passed: created list lst_\w+; add_users: 25 users in 3 requests", out)
    (created,) = partner.state.list_summaries(with_members=True)
    assert len(created["members"]) == 20 and created["members"][0].endswith("@example.com")


def test_a_failing_test_explains_and_exits_1(tmp_path, partner):
    file = write(tmp_path, list_manifest(partner.url))
    with pytest.raises(SystemExit) as exit_:
        run(file, "--var", "bearer_token=wrong-token", "--no-retries")
    assert exit_.value.code == 1


def test_attempts_are_counted_only_when_there_was_a_retry(tmp_path, partner, fast_retries):
    """A request that succeeds at once is not "attempt 1 of 8", as if retries were to come;
    one that was retried says which attempt got the answer, as the test page does."""
    file = write(tmp_path, list_manifest(partner.url))

    out, _ = run(file, "--var", f"bearer_token={TOKEN}", "--users", "3")
    assert "attempt" not in out
    assert re.search(r"^-> POST \S+/v1/lists$", out, re.M)
    assert re.search(r"^-> POST \S+/members  \(3 users\)$", out, re.M)
    assert re.search(r"^<- 201 Created in \d+ ms$", out, re.M)

    partner.state.set_faults(fail_next=2, status=503)
    out, err = run(file, "--var", f"bearer_token={TOKEN}", "--only", "create_list")
    assert re.findall(r"^-> POST \S+/v1/lists(.*)$", out, re.M) == [
        "  (attempt 1 of 8)",
        "  (attempt 2 of 8)",
        "  (attempt 3 of 8)",
    ]
    assert re.search(r"^<- 201 Created on attempt 3 of 8 in \d+ ms$", out, re.M)
    assert out.count("retrying in") == 2 and err.count("!! 503 Service Unavailable") == 2

    # A failure that is not retried says so, without counting attempts either.
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command(
            "integration",
            "test",
            file,
            "--var",
            "bearer_token=wrong-token",
            "--only",
            "create_list",
            stdout=out,
            stderr=io.StringIO(),
        )
    printed = out.getvalue()
    assert "attempt" not in printed
    assert re.search(r"^<- 401 Unauthorized in \d+ ms$", printed, re.M)
    assert re.search(r"^   401 Unauthorized, not retried$", printed, re.M)


def test_one_endpoint_at_a_time_with_the_list_id(tmp_path, partner):
    file = write(tmp_path, list_manifest(partner.url))
    out, _ = run(file, "--var", f"bearer_token={TOKEN}", "--only", "create_list")
    list_id = re.search(r"list id: (lst_\w+)", out).group(1)

    out, _ = run(
        file,
        "--var",
        f"bearer_token={TOKEN}",
        "--only",
        "add_users",
        "--list-id",
        list_id,
        "--users",
        "3",
    )

    assert "== add_users 3 users" in out and "== create_list" not in out
    assert partner.state.members_of(list_id) == {"alice-1", "bob-2", "charlie-3"}
    with pytest.raises(CommandError, match="--only remove_users needs --list-id"):
        run(file, "--var", f"bearer_token={TOKEN}", "--only", "remove_users")


def test_a_property_based_test(tmp_path, partner):
    file = write(tmp_path, property_manifest(partner.url))
    out, _ = run(file, "--var", f"bearer_token={TOKEN}", "--users", "6")
    assert "== update_users ($in_cohort true) 6 users in 2 requests" in out
    assert "== update_users ($in_cohort false) 1 user in 1 request" in out
    assert len(partner.state.users_in_cohort()) == 5


def test_csv_users_and_their_errors_with_line_numbers(tmp_path, partner):
    file = write(tmp_path, list_manifest(partner.url))
    good = tmp_path / "users.csv"
    good.write_text("operation,user_id_field,cohort_name\nadd,ann,CSV test\nremove,ann,CSV test\n")
    out, _ = run(file, "--var", f"bearer_token={TOKEN}", "--csv", str(good))
    assert "with 2 users from a CSV file" in out
    assert partner.state.list_summaries()[0]["name"] == "CSV test"

    bad = tmp_path / "bad.csv"
    bad.write_text("operation,user_id_field\nadd,a\nnuke,b\n")
    with pytest.raises(CommandError) as caught:
        run(file, "--var", f"bearer_token={TOKEN}", "--csv", str(bad))
    assert f"{bad}:3: operation is 'nuke'; use add or remove" in str(caught.value)


def test_a_missing_value_is_refused_before_any_request(tmp_path, partner):
    file = write(tmp_path, list_manifest(partner.url))
    with pytest.raises(CommandError, match=r"\$bearer_token is a required field"):
        run(file)
    assert partner.state.log_entries() == []


@pytest.mark.django_db
def test_an_unknown_project_is_refused(tmp_path, partner):
    file = write(tmp_path, list_manifest(partner.url))
    with pytest.raises(CommandError, match="no project with Project ID 424242"):
        run(file, "--var", f"bearer_token={TOKEN}", "--project", "424242")


def test_signed_requests_take_the_secret_from_the_environment(tmp_path, monkeypatch, start_partner):
    partner = start_partner(signing_secret="whsec_cli_secret")
    manifest = list_manifest(partner.url)
    manifest["delivery"] = {"sign_requests": True}
    file = write(tmp_path, manifest)
    with pytest.raises(CommandError, match="set INTEGRATION_SIGNING_SECRET"):
        run(file, "--var", f"bearer_token={TOKEN}")
    monkeypatch.setenv("INTEGRATION_SIGNING_SECRET", "whsec_cli_secret")
    out, _ = run(file, "--var", f"bearer_token={TOKEN}", "--users", "2")
    assert "whsec_cli_secret" not in out
    assert {e["signature"] for e in partner.state.log_entries()} == {"valid"}


def test_the_command_never_shows_a_traceback(tmp_path, partner):
    unreachable = with_endpoint(
        list_manifest(partner.url), "create_list", url="http://127.0.0.1:9/v1/lists"
    )
    cases = [
        (
            [
                write(tmp_path, list_manifest(partner.url), "ok.json"),
                "--var",
                f"bearer_token={TOKEN}",
            ],
            0,
        ),
        (
            [
                write(tmp_path, unreachable, "down.json"),
                "--var",
                f"bearer_token={TOKEN}",
                "--no-retries",
            ],
            1,
        ),
        ([str(tmp_path / "missing.json")], 1),
        ([write(tmp_path, {"display_name": "x"}, "bad.json")], 1),
        ([write(tmp_path, list_manifest(partner.url), "v.json"), "--var", "novalue"], 1),
    ]
    outputs = []
    for args, status in cases:
        result = command_process(*args)
        assert result.returncode == status, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        outputs.append(result.stdout + result.stderr)
    assert "Connection refused" in outputs[1]
    assert "missing.json: no such file" in outputs[2]


def test_a_short_secret_is_masked_as_a_value_and_nowhere_else(tmp_path, start_partner):
    # A token of two letters: masking every "OK" would garble the status lines and say
    # what the token is.
    partner = start_partner(token="OK")
    file = write(tmp_path, list_manifest(partner.url, batch_size=10))

    out, _ = run(file, "--var", "bearer_token=OK", "--var", "user_id_field=email")

    assert "Authorization: Bearer ••••••" in out
    assert "<- 201 Created" in out and "<- 200 OK" in out
    assert "Passed:" in out and "••••••" not in out.replace("Bearer ••••••", "")


def test_the_command_does_not_import_what_a_test_does_not_use(tmp_path, partner):
    """The command starts in under a second because it leaves out Celery (it hands nothing
    to a worker), the REST framework and httpx's own command-line client."""
    file = write(tmp_path, list_manifest(partner.url))
    result = command_process(
        *(file, "--var", f"bearer_token={TOKEN}", "--only", "create_list", "--no-retries"),
        python_options=("-X", "importtime"),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed:" in result.stdout
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "django" in imported and "httpx" in imported  # what it does use is listed
    top_level = {name.split(".")[0] for name in imported}
    assert top_level & {"celery", "click", "rich"} == set()
    # The API's apps are set up (their system checks are registered), the API itself is not.
    assert imported & {"rest_framework.views", "rest_framework.serializers"} == set()
