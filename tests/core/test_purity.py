"""syncengine.core never imports Django: it must load and run in a bare interpreter."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import syncengine.core

ROOT = Path(__file__).resolve().parents[2]


def test_core_modules_load_without_django():
    modules = sorted(
        f"syncengine.core.{m.name}" for m in pkgutil.iter_modules(syncengine.core.__path__)
    )
    assert len(modules) >= 3
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"django modules loaded: {result.stdout}"
