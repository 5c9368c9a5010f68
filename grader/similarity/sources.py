"""Past years' submissions and known public solutions, added by an instructor to compare the class
with: a script, a notebook (converted as the runner converts it) or a zip of many, each file one
source. A zip is read by the runner's checked reader (sizes, ratios, paths), never extracted to disk."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.engine.runner.notebook import NotebookError, convert_notebook
from grader.engine.runner.submission import SubmissionRejected, UploadLimits, prepare_submission
from grader.engine.runner.ziparchive import ArchiveError, display_name, read_archive
from grader.extensions import db

from .code import MAX_CODE_CHARS
from .models import SimilaritySource

MAX_SOURCES = 1000  # per assignment: each is compared with every student


class SourcesRefused(ValueError):
    """Why the upload added nothing, for the instructor."""


def _texts(filename: str, content: bytes) -> dict[str, str]:
    name = filename.replace("\\", "/").rpartition("/")[2].strip() or "upload"
    if not name.lower().endswith(".zip"):
        try:
            prepared = prepare_submission(name, content)
        except SubmissionRejected as exc:
            raise SourcesRefused(str(exc)) from None
        return {name: prepared.files[prepared.entry].decode("utf-8", "replace")}
    try:
        archive = read_archive(display_name(name), content, UploadLimits())
    except ArchiveError as exc:
        raise SourcesRefused(str(exc)) from None
    texts = {}
    for path, data in archive.files.items():
        if path.lower().endswith(".py"):
            texts[path] = data.decode("utf-8", "replace")
        elif path.lower().endswith(".ipynb"):
            try:
                texts[path] = convert_notebook(display_name(path), data)[0]
            except NotebookError:
                continue  # one unreadable notebook among many: the others still count
    if not texts:
        raise SourcesRefused(f"{display_name(name)} has no .py or .ipynb file to compare with.")
    return texts


def add_sources(assignment: Assignment, user: User, filename: str, content: bytes) -> int:
    """Add the upload's files as sources of ``assignment``; how many were added."""
    texts = _texts(filename, content)
    held = source_count(assignment)
    if held + len(texts) > MAX_SOURCES:
        raise SourcesRefused(f"An assignment holds at most {MAX_SOURCES} past submissions ({held} now).")
    for path, text in texts.items():
        db.session.add(
            SimilaritySource(
                assignment_id=assignment.id, name=path[:255], text=text[:MAX_CODE_CHARS], added_by_id=user.id
            )
        )
    db.session.commit()
    return len(texts)


def clear_sources(assignment: Assignment) -> None:
    db.session.execute(delete(SimilaritySource).where(SimilaritySource.assignment_id == assignment.id))
    db.session.commit()


def source_count(assignment: Assignment) -> int:
    found = db.session.scalar(
        select(func.count(SimilaritySource.id)).where(SimilaritySource.assignment_id == assignment.id)
    )
    return int(found or 0)
