"""The paraboloid assignment as the service tests use it: its folder, the textbook fix a student
uploads, and copies of the folder with a changed spec (to publish)."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.engine.spec import BUILTIN

PARABOLOID = BUILTIN / "paraboloid"
FIXED_SCRIPT = PARABOLOID / "reference.py"  # the textbook fix, as a student wrote it
FIXED = FIXED_SCRIPT.read_bytes()


def copy_paraboloid(tmp_path: Path, change: tuple[str, str] | None = None) -> Path:
    """A copy of the assignment's folder under ``tmp_path``, its spec's first ``change[0]`` replaced
    by ``change[1]``; returns the copy's folder."""
    folder = tmp_path / "paraboloid"
    shutil.copytree(PARABOLOID, folder)
    if change:
        spec = folder / "assignment.toml"
        # A change that matches nothing would publish the unchanged spec: the test would prove nothing.
        assert change[0] in spec.read_text()
        spec.write_text(spec.read_text().replace(*change, 1))
    return folder
