"""Turns what the student's code raised into a failure a student can act on."""

from __future__ import annotations

import errno
import os
import traceback
from typing import Any

from . import calls
from .discover import NoModel

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
MAX_TRACEBACK = 6000


def _student_frames(exc: BaseException, workdir: str) -> list[traceback.FrameSummary]:
    frames = traceback.extract_tb(exc.__traceback__)
    prefix = workdir.rstrip("/") + "/"
    return [f for f in frames if f.filename.startswith(prefix)]


def _relative(path: str, workdir: str) -> str:
    return os.path.relpath(path, workdir) if path.startswith(workdir) else path


def describe(exc: BaseException, workdir: str) -> dict[str, Any]:
    """A ``failed`` record's fields for an exception raised by the student's code."""
    if isinstance(exc, SyntaxError):
        where = _relative(exc.filename or "?", workdir)
        text = (exc.text or "").rstrip()
        caret = ""
        if text and exc.offset:
            caret = "\n    " + " " * (exc.offset - 1 - (len(text) - len(text.lstrip()))) + "^"
        return {
            "kind": "syntax_error",
            "message": f"{type(exc).__name__}: {exc.msg} ({where}, line {exc.lineno})"
            + (f"\n    {text.strip()}{caret}" if text else ""),
            "file": where,
            "line": exc.lineno or 0,
        }
    if isinstance(exc, NoModel):
        return {"kind": "no_model", "message": str(exc), "candidates": exc.candidates}
    frames = _student_frames(exc, workdir)
    lines = traceback.format_list(frames) if frames else []
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    text = "Traceback (your code only):\n" + "".join(lines) + summary if lines else summary
    text = text.replace(workdir.rstrip("/") + "/", "")
    record: dict[str, Any] = {
        "kind": "runtime_error",
        "message": summary[:2000],
        "traceback": text[-MAX_TRACEBACK:],
    }
    if frames:
        record["file"] = _relative(frames[-1].filename, workdir)
        record["line"] = frames[-1].lineno or 0
    if isinstance(exc, MemoryError):
        record["kind"] = "memory_limit"
        record["message"] = "Your code tried to allocate more memory than the limit allows (MemoryError)."
    elif isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        record["kind"] = "disk_limit"
        record["message"] = f"Your code wrote more to disk than the limit allows ({exc.strerror})."
    elif _process_limit(exc):
        record["kind"] = "process_limit"
        record["message"] = (
            "Your code could not start another process or thread: the process limit was reached."
        )
    elif isinstance(exc, SystemExit):
        record["message"] = f"Your script called exit with status {exc.code!r}."
    return record


def _process_limit(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.EAGAIN:
        frames = traceback.extract_tb(exc.__traceback__)
        return any(
            f.name in ("_execute_child", "_launch", "start") or "fork" in (f.line or "") for f in frames
        )
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)


def stopped(exc: BaseException, steps: int) -> dict[str, Any] | None:
    """A ``failed`` record's fields for the harness stopping the run itself; None for a harness fault."""
    if isinstance(exc, calls.CallTimeout):
        return {
            "kind": "model_timeout",
            "message": (
                f"Your model did not return within {exc.seconds:g} s when the grader called it: {exc.what}, "
                "in eval mode and under torch.no_grad(), on a few hundred public validation inputs"
                + (f" (after optimizer step {steps:,})" if steps else "")
                + ". The evaluation calls it the same way, so it would hang there too. Look in forward() "
                "for a loop or a wait that depends on self.training, the batch or anything outside the model."
            ),
        }
    if isinstance(exc, calls.OverBudget):
        return {
            "kind": "over_budget",
            "message": (
                f"Your model{f' `{exc.name}`' if exc.name else ''} has {exc.params:,} parameters; this "
                f"assignment allows at most {exc.allowed:,}. It was stopped at its first training step, so "
                "no time went into training it. Use fewer or narrower layers. (If it is not the model you "
                "submit, leave it out of the script you upload: the grader stops any model over the "
                "budget that trains.)"
            ),
            "params": exc.params,
        }
    if isinstance(exc, calls.HarnessStop):  # a budget ran out where no loop of the student's could end
        return {
            "kind": "bad_submission",
            "message": (
                "Training went on where the grader does not expect it (inside build_model(), which must "
                "only build the model, or when the module was imported) and ran past the assignment's "
                f"{str(exc).replace('_', ' ')}. "
                "Train in train(model, data, log), or with a TRAINING dict."
            ),
        }
    return None


def harness_failure(exc: BaseException) -> dict[str, Any]:
    """The grader's own code failed: only where and what type, for the host to log (never shown as is)."""
    where = exc.where if isinstance(exc, calls.HarnessFault) else "harness"
    cause = exc.error if isinstance(exc, calls.HarnessFault) else exc
    return {"kind": "harness_error", "message": f"{where}: {type(cause).__name__}: {cause}"[:600]}
