"""Assignment folders uploaded by staff as a .zip: kept as drafts, previewed, checked, then published.

A draft is stored only once its spec parses and validates, exactly as ``grader assignments
publish`` would validate it; a refused upload leaves nothing behind. "Run the check"
commits ``checking`` and then sends a message to the grading queue, where a worker slot
grades each declared solution in its sandbox (``check.check_solution``, the code behind
``grader assignments check``) and records the outcomes. States: ``uploaded`` -> ``checking``
-> ``checked`` (the check ran; its report says whether every solution was as declared) or
``failed`` (the check itself could not run). Publishing needs a checked draft whose
solutions were all as declared, unless the instructor overrides it (the CLI's ``--no-check``).

Trust: like a folder published from the CLI, an upload is the course staff's own material,
and only the course's staff may upload (checked here and in the pages). A target function
(``target.py``) is Python that runs on the host, outside any sandbox: in the web process when
the upload is validated and in the worker when data are drawn. Course staff include whoever
an LMS launches as an instructor or a teaching assistant, so a folder with a target function
is accepted from site administrators only (the same people who can publish from the CLI);
instructors write targets as expressions or data files. Solutions only ever run in the
sandbox, and hidden targets never enter it.
"""

from __future__ import annotations

import base64
import contextlib
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from flask import current_app
from sqlalchemy import update

from grader.accounts.models import Role, User
from grader.assignments import services
from grader.assignments.models import Assignment, SpecDraft
from grader.assignments.queueing import grading_queue
from grader.courses.access import is_staff
from grader.courses.models import Course
from grader.domain_events import send
from grader.engine.fields import SpecError
from grader.engine.runner.check import RunnerSettings, SolutionCheck, check_solution
from grader.engine.runner.submission import UploadLimits
from grader.engine.runner.ziparchive import ArchiveError, read_archive
from grader.engine.spec import SPEC_FILE, Reader
from grader.engine.spec import Assignment as Spec
from grader.engine.spec import parse as parse_spec
from grader.extensions import db, utcnow

UPLOADED, CHECKING, CHECKED, FAILED = "uploaded", "checking", "checked", "failed"
CHECK_SEEDS = 1  # one training seed per solution: a check takes minutes, not tens of minutes
STALE_CHECK = timedelta(hours=2)  # a check still "checking" after this lost its message: it may be rerun


class DraftRefused(Exception):
    """A request about a draft is refused; ``message`` says what was wrong and how to fix it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- Reading an upload -------------------------------------------------------------------------------


def _spec_path(files: dict[str, bytes], zip_name: str, top: str | None) -> str:
    if SPEC_FILE in files:
        return SPEC_FILE
    found = sorted(name for name in files if PurePosixPath(name).name == SPEC_FILE)
    where = f'the top of the zip or of its single folder "{top}"' if top else "the top of the zip"
    hint = f" (found {found[0]!r}: zip the folder that holds it)" if found else ""
    raise DraftRefused(
        422,
        f"{zip_name}: no {SPEC_FILE} at {where}{hint}. Zip the assignment folder itself: "
        f"{SPEC_FILE}, reference.py, wrong/*.py and the files the spec names.",
    )


def read_upload(zip_name: str, content: bytes) -> tuple[dict[str, bytes], str]:
    """The folder's files from an uploaded .zip (the hardened reader used for students' zips),
    and the label its spec errors start with. Raises DraftRefused."""
    config = current_app.extensions["grader.config"]
    if not zip_name.lower().endswith(".zip"):
        raise DraftRefused(422, f"{zip_name}: upload a .zip of the assignment folder.")
    if len(content) > config.upload_max_bytes:
        limit = config.upload_max_bytes / (1024 * 1024)
        raise DraftRefused(
            413, f"{zip_name} is larger than {limit:.1f} MB; leave out files the spec does not use."
        )
    try:
        archive = read_archive(zip_name, content, UploadLimits(max_upload_bytes=config.upload_max_bytes))
    except ArchiveError as exc:
        raise DraftRefused(422, str(exc)) from None
    top = archive.stripped_folder
    _spec_path(archive.files, zip_name, top)
    return archive.files, f"{zip_name}/{top}" if top else zip_name


def _reader(files: dict[str, bytes], where: str) -> Reader:
    def read(name: str) -> bytes:
        if name not in files:
            raise SpecError(f"{where}: {name!r} is not in the zip; put it in the folder next to {SPEC_FILE}")
        return files[name]

    return read


@contextlib.contextmanager
def _unpacked(files: dict[str, bytes]) -> Iterator[Path]:
    """The files in a temporary folder (the solutions are read from there, as from a CLI folder)."""
    with tempfile.TemporaryDirectory(prefix="spec-draft-") as tmp:
        root = Path(tmp) / "assignment"
        for name, data in files.items():
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                raise SpecError(f"{name!r} is not a path inside the assignment folder")
            path = root.joinpath(*relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        yield root


@contextlib.contextmanager
def parsed(files: dict[str, bytes], label: str, validate: bool) -> Iterator[Spec]:
    """The spec of a folder's files, its solutions readable in ``spec.folder`` inside the block.

    ``validate`` also draws a sample: that runs the instructor's target function on this host.
    Raises SpecError with the file and the field (temporary paths replaced by ``label``).
    """
    where = f"{label}/{SPEC_FILE}"
    try:
        text = files[SPEC_FILE].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{where}: not UTF-8 text; save it as UTF-8") from None
    with _unpacked(files) as folder:
        try:
            spec = parse_spec(text, where, _reader(files, where), folder, validate)
        except SpecError as exc:
            raise SpecError(str(exc).replace(str(folder), label)) from None
        except Exception as exc:  # noqa: BLE001 - the instructor's target function may raise anything
            raise SpecError(
                f"{where}: drawing a sample failed with {type(exc).__name__}: {exc}. If the target is a "
                "function, call it on its own with arrays of the inputs to find the error."
            ) from None
        if not spec.solutions:
            raise SpecError(
                f"{where}: declares no solutions; add reference.py (and wrong/*.py) or [[solutions]]"
            )
        yield spec


TARGET_FUNCTION_REFUSED = (
    "{where}: the target is a Python function (target.function), which runs on the grading servers "
    "outside the sandbox, so only a site administrator may upload it. Write the target as an "
    "expression (target.expression) or as a column of a data file, or ask an administrator to upload "
    "this folder."
)


def create_draft(user: User, course: Course, zip_name: str, content: bytes) -> SpecDraft:
    """Validate an uploaded assignment folder and store it as a draft. Raises DraftRefused, storing nothing."""
    if not is_staff(user, course.id):
        raise DraftRefused(404, f"There is no course {course.id} that you teach.")
    files, label = read_upload(zip_name, content)
    try:
        with parsed(files, label, validate=False) as spec:
            runs_code = spec.target.function is not None
        if runs_code and user.role is not Role.ADMIN:
            raise DraftRefused(403, TARGET_FUNCTION_REFUSED.format(where=f"{label}/{SPEC_FILE}"))
        with parsed(files, label, validate=True) as spec:  # draws a sample: runs target.py, if any
            slug = spec.slug
    except SpecError as exc:
        raise DraftRefused(422, str(exc)) from None
    draft = SpecDraft(
        course_id=course.id,
        user_id=user.id,
        slug=slug,
        files=encode(files),
        state=UPLOADED,
        check_report=None,
    )
    try:
        db.session.add(draft)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return draft


def encode(files: dict[str, bytes]) -> dict[str, str]:
    return {name: base64.b64encode(data).decode() for name, data in sorted(files.items())}


def draft_files(draft: SpecDraft) -> dict[str, bytes]:
    return {name: base64.b64decode(text) for name, text in (draft.files or {}).items()}


def draft_label(draft: SpecDraft) -> str:
    return f"draft {draft.id} ({draft.slug})"


def draft_spec(draft: SpecDraft) -> Spec:
    """The draft's spec, for showing (no sample is drawn, so no target function runs)."""
    with parsed(draft_files(draft), draft_label(draft), validate=False) as spec:
        return spec


# -- The check ---------------------------------------------------------------------------------------


def check_passed(draft: SpecDraft) -> bool:
    report = draft.check_report or {}
    return draft.state == CHECKED and bool(report.get("ok")) and bool(report.get("solutions"))


def can_start_check(draft: SpecDraft) -> bool:
    """Not while a check runs; a check whose report has not moved for STALE_CHECK lost its message."""
    return draft.state != CHECKING or draft.updated_at < utcnow() - STALE_CHECK


def start_check(draft: SpecDraft) -> None:
    """Mark the draft ``checking`` (commit), then queue the check. Raises DraftRefused."""
    before_state, before_report = draft.state, draft.check_report
    spec = draft_spec(draft)
    now = utcnow()
    claimed = db.session.execute(
        update(SpecDraft)
        .where(
            SpecDraft.id == draft.id,
            (SpecDraft.state != CHECKING) | (SpecDraft.updated_at < now - STALE_CHECK),
        )
        .values(
            state=CHECKING,
            updated_at=now,
            check_report={
                "total": len(spec.solutions),
                "seeds": CHECK_SEEDS,
                "queued_at": now.isoformat(),
                "solutions": [],
            },
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise DraftRefused(409, "The check is already running; this page shows its results when it finishes.")
    db.session.commit()
    config = current_app.extensions["grader.config"]
    queue = grading_queue(spec.budget, config.grading_queue)
    try:
        current_app.extensions["celery"].send_task("grader.check_draft", args=[draft.id], queue=queue)
    except Exception:  # the broker is down: put the draft back as it was
        current_app.logger.warning("queueing the check of draft %s failed", draft.id, exc_info=True)
        db.session.execute(
            update(SpecDraft)
            .where(SpecDraft.id == draft.id)
            .values(state=before_state, check_report=before_report, updated_at=utcnow())
        )
        db.session.commit()
        raise DraftRefused(
            503,
            "The grading queue cannot be reached, so the check was not started. Try again in a minute; "
            "if it keeps failing, ask the administrator to check the workers' queue (Redis).",
        ) from None
    db.session.refresh(draft)


def _worker_settings() -> RunnerSettings:
    from grader import worker_slot  # the worker slot's sandbox settings and warm pool

    slot = worker_slot.current()
    return RunnerSettings(
        seeds=CHECK_SEEDS, jobs=1, threads=slot.threads, uid=slot.uid, jobs_root=slot.jobs_root,
        pool=slot.pool, gpu_index=slot.gpu_index,
    )  # fmt: skip


def outcome(item: SolutionCheck) -> dict[str, Any]:
    """One solution's outcome as stored in the report (nothing of the hidden set in it)."""
    report = item.report
    return {
        "file": item.solution.file,
        "expect": item.solution.expect,
        "why": item.solution.why,
        "got": item.got,
        "ok": item.ok,
        "verdict": report.verdict.value if report else None,
        "score": report.score if report else None,
        "max_score": report.max_score if report else None,
        "metric": report.metric_name if report else None,
        "metric_value": report.metric_value if report else None,
        "diagnoses_expected": list(item.solution.diagnoses),
        "diagnoses_got": sorted(item.found),
        "missing": sorted(set(item.solution.diagnoses) - item.found),
        "false_alarms": item.false_alarms,
        "message": (report.message if report else item.error)[:2000],
        "seconds": round(item.seconds, 1),
    }


def _save(draft_id: int, state: str, report: dict[str, Any]) -> None:
    db.session.execute(
        update(SpecDraft)
        .where(SpecDraft.id == draft_id)
        .values(state=state, check_report=report, updated_at=utcnow())
    )
    db.session.commit()


def run_check(draft_id: int, settings: RunnerSettings | None = None) -> str:
    """Grade each declared solution of a ``checking`` draft in turn (the Celery task calls this).

    The report is saved after each solution (the page shows the progress), then the state:
    ``checked`` when every solution ran, ``failed`` when the check itself could not run.
    """
    draft = db.session.get(SpecDraft, draft_id)
    if draft is None or draft.state != CHECKING:
        return "not checking"
    files, label = draft_files(draft), draft_label(draft)
    report: dict[str, Any] = dict(draft.check_report or {})
    db.session.commit()  # end the read transaction before minutes of training
    report.update(solutions=[], started_at=utcnow().isoformat(), ok=None, error=None)
    try:
        with parsed(files, label, validate=False) as spec:
            settings = settings or _worker_settings()
            report["total"] = len(spec.solutions)
            _save(draft_id, CHECKING, report)
            for solution in spec.solutions:
                report["solutions"].append(outcome(check_solution(spec, solution, settings)))
                _save(draft_id, CHECKING, report)
    except Exception as exc:  # any failure is recorded on the draft, never left "checking"
        db.session.rollback()
        current_app.logger.exception("the check of draft %s failed", draft_id)
        report["error"] = f"The check could not run: {type(exc).__name__}: {exc}"
        report["finished_at"] = utcnow().isoformat()
        _save(draft_id, FAILED, report)
        return "failed"
    report["ok"] = all(row["ok"] for row in report["solutions"])
    report["finished_at"] = utcnow().isoformat()
    _save(draft_id, CHECKED, report)
    return "checked"


# -- Publishing --------------------------------------------------------------------------------------


def publish_draft(
    draft: SpecDraft,
    deadline: datetime | None,
    daily_limit: int | None,
    *,
    override: bool = False,
    hidden: bool = True,
    by: User | None = None,
) -> Assignment:
    """Publish the draft's spec in its course (a new assignment, hidden by default, or a new version).

    Refused (DraftRefused) unless the check passed or ``override`` is set. The assignment and
    the draft's link to it commit together; a refusal leaves the database as it was.
    """
    if draft.assignment_id is not None:
        raise DraftRefused(
            409, "This draft is published already. Upload the folder again to publish a changed version."
        )
    if not override and not check_passed(draft):
        why = {
            UPLOADED: "its solutions have not been checked yet",
            CHECKING: "its check is still running",
            FAILED: "its check could not run",
        }.get(draft.state, "a solution's outcome differs from the one its spec declares")
        raise DraftRefused(
            409,
            f"Not published: {why}. Run the check and wait for every solution to be as declared, or tick "
            "“Publish without a passing check”.",
        )
    course = db.session.get(Course, draft.course_id)
    assert course is not None  # the draft's foreign key
    try:
        with parsed(draft_files(draft), draft_label(draft), validate=True) as spec:
            assignment, staged = services.stage_spec(
                course, spec, deadline, daily_limit, hidden=hidden, by=by
            )
        draft.assignment_id = assignment.id
        draft.updated_at = utcnow()
        db.session.commit()
    except SpecError as exc:
        db.session.rollback()
        raise DraftRefused(422, f"Nothing was published: {exc}") from None
    except Exception:
        db.session.rollback()
        raise
    send(staged)  # its reference run, queued once the version has committed
    return assignment
