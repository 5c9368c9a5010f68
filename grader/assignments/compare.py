"""What publishing a spec would change in a course: read-only, for the draft's preview page."""

from __future__ import annotations

import base64
import difflib
import hashlib
import tomllib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from grader.assignments.models import Assignment, AssignmentVersion
from grader.engine.spec import SPEC_FILE
from grader.engine.spec import Assignment as Spec
from grader.extensions import db

MISSING = object()


@dataclass
class Comparison:
    assignment: Assignment
    current: AssignmentVersion
    same: bool  # the same spec text and files: publishing makes no new version
    diff: list[str] = field(default_factory=list)  # unified diff of assignment.toml, current -> new
    fields: list[str] = field(default_factory=list)  # dotted names of the fields that changed
    files: list[str] = field(default_factory=list)  # files the spec uses that were added, changed or removed


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out |= _flat(inner, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: value}


def changed_fields(old_text: str, new_text: str) -> list[str]:
    """The fields whose values differ (``metric.full_marks_at``, ``description``); [] if either fails to parse."""
    try:
        old, new = _flat(tomllib.loads(old_text)), _flat(tomllib.loads(new_text))
    except tomllib.TOMLDecodeError:
        return []
    return sorted(k for k in old.keys() | new.keys() if old.get(k, MISSING) != new.get(k, MISSING))


def _changed_files(version: AssignmentVersion, spec: Spec) -> list[str]:
    def digests(files: dict[str, bytes]) -> dict[str, str]:
        return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}

    old = digests({name: base64.b64decode(text) for name, text in (version.files or {}).items()})
    new = digests(spec.files)
    notes = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            notes.append(f"{name} (added)")
        elif name not in new:
            notes.append(f"{name} (no longer used)")
        elif old[name] != new[name]:
            notes.append(f"{name} (changed)")
    return notes


def compare_with_published(course_id: int, spec: Spec) -> Comparison | None:
    """The course's assignment with the spec's slug and what publishing the spec would change; None if new."""
    assignment = db.session.scalar(
        select(Assignment).where(Assignment.course_id == course_id, Assignment.slug == spec.slug)
    )
    if assignment is None or not assignment.versions:
        return None
    current = assignment.current
    diff = list(
        difflib.unified_diff(
            current.spec_text.splitlines(),
            spec.text.splitlines(),
            f"{SPEC_FILE} (version {current.number})",
            f"{SPEC_FILE} (uploaded)",
            lineterm="",
        )
    )
    return Comparison(
        assignment=assignment,
        current=current,
        same=current.spec_sha256 == spec.digest,
        diff=diff,
        fields=changed_fields(current.spec_text, spec.text),
        files=_changed_files(current, spec),
    )
