"""The README's command-line examples run as written: the block under "From the command
line" in bash from the repository's root, and the `_faults` curl. The only change made is
the demo partner's address: the test's own partner listens on a free port, not on 8765."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DEMO_ADDRESS = "http://127.0.0.1:8765"


def command_line_block() -> str:
    section = README[README.index("**From the command line**") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_command_line_examples_run_as_written(partner, tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    for source in (ROOT / "docs" / "examples").iterdir():
        text = source.read_text().replace(DEMO_ADDRESS, partner.url)
        (examples / source.name).write_text(text)
    block = command_line_block()
    assert ".venv/bin/python manage.py integration test docs/examples/" in block
    script = block.replace(".venv/bin/python", sys.executable).replace(
        "docs/examples/", f"{examples}/"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "OUTBOUND_ALLOW_PRIVATE_NETWORKS", "SECRET_KEY"}
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The full test and add_users alone print here (create_list's output went to LIST_ID).
    assert result.stdout.count("Passed") == 2, result.stdout
    assert "add_users: passed" in result.stdout
    assert "Traceback" not in result.stderr
    # The render at the end: secrets masked.
    assert '"Authorization": "Bearer ••••••"' in result.stdout
    assert "demo-token" not in result.stdout.split('"requests"')[-1]
    lists = partner.snapshot(with_members=True)["lists"]
    assert any(
        sorted(item["members"]) == ["alice@example.com", "bob@example.com"] for item in lists
    )


def test_the_faults_curl_runs_as_written(partner):
    line = re.search(r"`(curl -X POST [^`]*_faults[^`]*)`", README).group(1)
    command = line.replace(DEMO_ADDRESS, partner.url)
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=30)
    faults = httpx.get(partner.url + "/_log").json()["faults"]
    assert (faults["fail_next"], faults["status"], faults["retry_after"]) == (2, 429, "1")
