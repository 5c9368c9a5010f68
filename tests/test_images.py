"""The images' recipes: what the sandbox image holds agrees with what the grader promises students."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=\[ ;]", line.strip(), maxsplit=1)[0].lower() for line in requirements if line.strip()
    }


def test_the_sandbox_image_holds_what_students_may_import():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = _names(project["project"]["optional-dependencies"]["runtime"])
    lines = (ROOT / "docker" / "sandbox-requirements.txt").read_text().splitlines()
    image = _names([line for line in lines if not line.startswith("#")])
    assert image == runtime | {"numpy", "safetensors"}  # what the harness itself imports, besides torch


def test_neither_image_keeps_the_build_extras():
    """The CA bundle and the torch wheel are read in the build stage only; the final stage copies the venv."""
    for dockerfile in (ROOT / "Dockerfile", ROOT / "docker" / "sandbox.Dockerfile"):
        text = dockerfile.read_text()
        final = text[text.rindex("\nFROM ") :]
        assert "build-extra" not in final and "--from=build /opt/venv /opt/venv" in final, dockerfile.name
        assert re.search(r"^ARG BASE=python:3\.11-slim$", text, re.M), dockerfile.name  # production's base


def test_the_sandbox_image_runs_as_a_plain_user_and_holds_no_grader_code_but_the_harness():
    text = (ROOT / "docker" / "sandbox.Dockerfile").read_text()
    copies = re.findall(r"^COPY (?!--from)(\S+)", text, re.M)
    assert copies == [
        "docker/build-extra/",
        "docker/sandbox-requirements.txt",
        "grader/engine/harness",
        "gradekit",
    ]
    assert re.search(r"^USER 61000:61000$", text, re.M)
