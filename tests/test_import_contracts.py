"""The import arrows of docs/architecture.md ("Packages"), checked by import-linter against the
contracts in pyproject.toml: loket on top, then api, signaling, the domain packages, recordings,
and db at the bottom; route modules never import each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_every_import_points_down_and_no_route_imports_another() -> None:
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_arrow_is_reported(tmp_path: Path) -> None:
    # The same tree against contracts turned upside down: the checker must see the real arrows.
    config = tmp_path / "upside_down.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["loket", "db"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "db above loket"\n'
        'type = "layers"\n'
        'layers = ["db", "loket"]\n'
    )
    result = _lint("--config", str(config))
    assert result.returncode != 0
    assert "loket" in result.stdout and "BROKEN" in result.stdout
