"""syncengine.core never imports Django: it must load and run in a bare interpreter."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import syncengine.core

ROOT = Path(__file__).resolve().parents[3]


def core_modules() -> list[str]:
    """Every module of the core, those inside its subpackages included."""
    found = pkgutil.walk_packages(syncengine.core.__path__, prefix="syncengine.core.")
    return sorted(["syncengine.core", *(module.name for module in found)])


def test_core_modules_load_without_django():
    modules = core_modules()
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


def test_every_file_of_the_core_is_loaded_by_the_purity_check():
    # A folder without __init__.py would be skipped by walk_packages, and its modules
    # would escape the check above.
    core = ROOT / "syncengine" / "core"
    files = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in core.rglob("*.py")
    }
    assert files == set(core_modules())
