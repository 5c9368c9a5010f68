"""One sandboxed run of a submission: train, then predict on inputs it never saw.

``run_submission`` takes the submission's files and the evaluation *inputs*
(targets stay with the caller), drives a sandbox through the protocol and
returns a ``RunResult`` with a verdict. Scoring is the caller's job (``grade``).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.engine.harness import protocol
from grader.engine.rules import Task
from grader.engine.runner.conversation import GradingConversation
from grader.engine.sandbox.backend import Backend
from grader.engine.sandbox.bwrap import SandboxUnavailable
from grader.engine.sandbox.limits import Limits, Usage
from grader.engine.sandbox.pool import ReadySandbox, WarmPool, start_cold
from grader.engine.sandbox.supervise import SandboxOutcome, Supervisor
from grader.engine.sweep_rules import EarlyStopping
from grader.engine.training import Training
from grader.engine.verdicts import Verdict, limit_message

log = logging.getLogger(__name__)


CHECK_CALLS = 4  # the checks on the final model call it at most this many times


@dataclass
class RunRequest:
    files: dict[str, bytes]  # relative path -> content, already checked by the submission loader
    entry: str
    mode: str  # "script" or "module"
    eval_inputs: np.ndarray
    public_data: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int = 0
    max_steps: int | None = None
    train_seconds: float | None = None
    eval_seconds: float = 30.0
    # The assignment's parameter budget: a bigger model stops when it first trains.
    max_parameters: int | None = None
    limits: Limits = field(default_factory=Limits)
    device: str = "cpu"
    instrument: bool = True  # off only in the benchmark that measures the recording's cost
    probes: bool = True  # off only in the benchmark that measures the diagnoses' cost
    # A sweep point's settings, checked by the host already (grader/engine/sweep_settings.py): the run reads
    # them with gradekit.params(); module mode also applies them (grader/engine/harness/sweep.py).
    params: dict[str, Any] | None = None
    # Stop at a plateau of the held-out loss on the public validation set (harness/early_stop.py):
    # patience (looks), min_delta (relative), every (steps, or None: about 100 looks), loss.
    early_stopping: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.early_stopping is not None:
            self.early_stopping = checked_early_stopping(self.early_stopping)

    @property
    def call_seconds(self) -> float:
        """The budget of one call of the model by the harness (a probe, a check on the final model)."""
        return min(protocol.MODEL_CALL_SECONDS, self.eval_seconds / 3)

    @property
    def checks_seconds(self) -> float:
        """The host's own deadline over the checks on the final model: a handful of calls and margin."""
        return CHECK_CALLS * self.call_seconds + 5.0


def checked_early_stopping(settings: dict[str, Any]) -> dict[str, Any]:
    """The early-stopping settings with defaults filled in; ValueError (the caller's bug) otherwise."""
    unknown = set(settings) - {"patience", "min_delta", "every", "loss"}
    if unknown:
        raise ValueError(f"early_stopping: unknown keys {sorted(unknown)}")
    patience = settings.get("patience", EarlyStopping.patience)
    min_delta = settings.get("min_delta", EarlyStopping.min_delta)
    every, loss = settings.get("every"), settings.get("loss")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"early_stopping.patience: {patience!r}; a whole number of looks, at least 1")
    if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not 0 <= min_delta < 1:
        raise ValueError(f"early_stopping.min_delta: {min_delta!r}; a relative improvement from 0 up to 1")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"early_stopping.every: {every!r}; a whole number of steps, or None")
    if loss not in protocol.HELDOUT_LOSSES:
        raise ValueError(f"early_stopping.loss: {loss!r}; one of {', '.join(protocol.HELDOUT_LOSSES)}")
    return {"patience": patience, "min_delta": float(min_delta), "every": every, "loss": loss}


@dataclass
class RunResult:
    verdict: Verdict
    message: str
    seed: int
    details: dict[str, Any] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    weights: bytes | None = None
    weights_frames: int = 0  # weights frames the sandbox sent before the inputs (the harness sends one)
    measured_parameters: list[int | None] = field(default_factory=list)  # the host's count of each
    training: Training = field(default_factory=Training)
    usage: Usage = field(default_factory=Usage)
    stdout: str = ""
    stderr: str = ""
    warm: bool = False


def _write_job(jobdir: Path, request: RunRequest, uid: int | None, shared: bool = False) -> None:
    """The submission and the public data, private to the sandbox's uid (no other user reads them).

    ``shared``: the sandbox runs as a uid the host cannot give files to (a Docker backend whose worker
    is not root), so they are readable by all, below a jobs folder only the worker can enter.
    """

    def private(path: Path, mode: int) -> None:
        if shared:  # readable (and folders enterable) by all
            mode |= 0o055 if mode & 0o100 else 0o044
        path.chmod(mode)
        if uid is not None:
            os.chown(path, uid, uid)

    def folder(path: Path) -> None:
        missing = []
        while path != jobdir and not path.exists():
            missing.append(path)
            path = path.parent
        for made in reversed(missing):
            made.mkdir(mode=0o700)
            private(made, 0o700)

    submission = jobdir / "submission"
    folder(submission)
    for relative, content in request.files.items():
        target = submission / relative
        folder(target.parent)
        target.write_bytes(content)
        private(target, 0o600)
    if request.public_data:
        data = jobdir / "data"
        folder(data)
        for name, array in request.public_data.items():
            np.save(data / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            private(data / f"{name}.npy", 0o600)


def heldout_loss(task: Task) -> str:
    """The held-out loss early stopping watches, fitting what the task's models output."""
    if task.type == "multiclass":
        return "cross_entropy"
    if task.type == "binary":
        return "bce_with_logits" if task.output == "logit" else "bce"
    return "mse"


def early_stopping_settings(rules: EarlyStopping, task: Task) -> dict[str, Any]:
    """``RunRequest.early_stopping`` (and ``grade(early_stopping=...)``) from ``[sweep.early_stopping]``."""
    return {
        "patience": rules.patience, "min_delta": rules.min_delta, "every": rules.every,
        "loss": heldout_loss(task),
    }  # fmt: skip


def run_submission(
    request: RunRequest,
    pool: WarmPool | None = None,
    uid: int | None = None,
    jobs_root: Path | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    backend: Backend | None = None,
) -> RunResult:
    """One run in a warm sandbox of ``pool`` if one is ready, else in one started now by ``backend``
    (bubblewrap as ``uid`` when None)."""
    ready: ReadySandbox | None = pool.acquire() if pool is not None else None
    warm = ready is not None
    started = time.monotonic()
    try:
        if ready is None:
            ready = start_cold(request.limits, uid, jobs_root, backend)
    except (OSError, SandboxUnavailable) as exc:
        return RunResult(Verdict.INTERNAL_ERROR, f"The sandbox could not start: {exc}", request.seed)
    proc = ready.proc
    try:
        if warm:
            # A warm sandbox was started with the slot's limits; this job's own apply from now on.
            proc.apply_limits(request.limits)
        _write_job(proc.jobdir, request, proc.uid, proc.shared)
        job = {
            "mode": request.mode,
            "entry": request.entry,
            "seed": request.seed,
            "threads": request.limits.threads,
            "device": request.device,
            "max_steps": request.max_steps,
            "train_seconds": request.train_seconds,
            "instrument": request.instrument,
            "probes": request.probes,
            "params": request.params or {},
            "early_stopping": request.early_stopping,
            "max_parameters": request.max_parameters,
            "call_seconds": request.call_seconds,
        }
        talk = GradingConversation(
            job, request.eval_inputs, request.eval_seconds, on_progress, ready.hello, request.checks_seconds
        )
        outcome = Supervisor(proc, request.limits, talk).run(started)
    finally:
        proc.close()
    result = _result(request, talk, outcome)
    result.warm = warm
    return result


def _limit_verdict(reason: str, limits: Limits, eval_seconds: float) -> tuple[Verdict, str]:
    if reason == "checks_timeout":
        return Verdict.EVALUATION_TIMEOUT, CHECKS_TIMEOUT
    mib = limits.memory_bytes // (1024 * 1024)
    table = {
        "wall_time": (Verdict.TIME_LIMIT, f"{limits.wall_seconds:g} s of wall time"),
        "cpu_time": (Verdict.TIME_LIMIT, f"{limits.effective_cpu_seconds:g} s of CPU time"),
        "memory": (Verdict.MEMORY_LIMIT, f"{mib} MiB"),
        "processes": (Verdict.PROCESS_LIMIT, str(limits.processes)),
        "output": (Verdict.OUTPUT_LIMIT, f"{limits.output_bytes // 1024} KiB of output"),
        "evaluation_timeout": (Verdict.EVALUATION_TIMEOUT, f"{eval_seconds:g} s"),
        "disk": (Verdict.DISK_LIMIT, f"{limits.disk_bytes // (1024 * 1024)} MiB"),
    }
    verdict, amount = table[reason]
    return verdict, limit_message(verdict, amount)


CHECKS_TIMEOUT = (
    "Training finished, but your trained model did not return when the grader called it on public "
    "validation inputs (in eval mode, under torch.no_grad(), as the evaluation does), and it was "
    "stopped. Look in forward() for a loop or a wait that depends on self.training or on the batch."
)
NOT_CHARGED = "This is the platform's fault and does not count against your submissions."
HARNESS_ERROR = (
    "The grader's own code failed while running your submission. This is the platform's fault, not "
    "yours, and it does not count against your submissions; the staff can see what failed."
)


FAILURE_VERDICTS = {
    "syntax_error": Verdict.SYNTAX_ERROR,
    "runtime_error": Verdict.RUNTIME_ERROR,
    "no_model": Verdict.NO_MODEL,
    "memory_limit": Verdict.MEMORY_LIMIT,
    "disk_limit": Verdict.DISK_LIMIT,
    "bad_submission": Verdict.BAD_SUBMISSION,
    "process_limit": Verdict.PROCESS_LIMIT,
    "model_timeout": Verdict.EVALUATION_TIMEOUT,
    "over_budget": Verdict.OVER_BUDGET,
    "harness_error": Verdict.HARNESS_ERROR,
}


def _result(request: RunRequest, talk: GradingConversation, outcome: SandboxOutcome) -> RunResult:
    verdict, message, details = _verdict(request, talk, outcome)
    failure = talk.training.failure or {}
    if failure.get("kind") == "harness_error":
        # The platform's fault, or the student's code claiming it: either way nothing of the run
        # reaches a person but the fixed text (an uncharged run must not be free compute with output).
        log.error("the harness failed in a sandbox: %r", str(failure.get("message", ""))[:600])
        return RunResult(verdict, HARNESS_ERROR, request.seed, usage=outcome.usage)
    result = RunResult(
        verdict, message, request.seed, details=details, training=talk.training,
        usage=outcome.usage, stdout=outcome.stdout, stderr=outcome.stderr,
    )  # fmt: skip
    result.weights_frames, result.measured_parameters = talk.weights_frames, talk.measured_parameters
    if verdict is Verdict.SCORED:
        result.predictions = talk.predictions
        result.weights = talk.weights
    return result


def _verdict(
    request: RunRequest, talk: GradingConversation, outcome: SandboxOutcome
) -> tuple[Verdict, str, dict[str, Any]]:
    t = talk.training
    limits = request.limits
    if talk.mismatch is not None:
        log.error("%s", talk.mismatch)
        return Verdict.INTERNAL_ERROR, f"The grading sandbox failed: {talk.mismatch}. {NOT_CHARGED}", {}
    if t.started is None:
        # Nothing of the student's had run yet: whatever went wrong is the platform's.
        return Verdict.INTERNAL_ERROR, _internal_message(outcome), {}
    if outcome.exit_code == protocol.HARNESS_FAILED and t.failure is None and talk.predictions is None:
        # Once the student's code runs in the process, status 70 is as easily their os._exit(70) as the
        # harness's: taking it for the platform's would let any submission skip its quota (and be
        # retried for free). So it is theirs, said plainly; a real harness bug shows in the traceback.
        tail = " | ".join(outcome.stderr.strip().splitlines()[-3:])
        return (
            Verdict.RUNTIME_ERROR,
            f"Your program stopped with exit status {protocol.HARNESS_FAILED} while training. {tail}".strip(),
            {},
        )
    if talk.predictions is not None:
        return Verdict.SCORED, "", {}
    if outcome.oom_killed:
        return (*_limit_verdict("memory", limits, request.eval_seconds), {})
    if outcome.killed_for:
        return (*_limit_verdict(outcome.killed_for, limits, request.eval_seconds), {})
    if outcome.pids_limit_hit:
        return (*_limit_verdict("processes", limits, request.eval_seconds), {})
    if talk.model_raised:
        return Verdict.BAD_PREDICTIONS, *_raised_at_evaluation(t)
    if talk.prediction_error:
        return Verdict.BAD_PREDICTIONS, f"No usable predictions: {talk.prediction_error}.", {}
    if t.failure is not None:
        failure = dict(t.failure)
        verdict = FAILURE_VERDICTS[failure.pop("kind")]
        return verdict, failure.pop("message"), failure
    if outcome.signal == signal.SIGXFSZ:
        return (*_limit_verdict("disk", limits, request.eval_seconds), {})
    if outcome.signal == signal.SIGXCPU:
        return (*_limit_verdict("cpu_time", limits, request.eval_seconds), {})
    how = (
        f"was killed by signal {outcome.signal}"
        if outcome.signal
        else f"exited with status {outcome.exit_code}"
    )
    if t.trained is not None:
        return Verdict.BAD_PREDICTIONS, f"The sandbox {how} while your model was predicting.", {}
    return Verdict.RUNTIME_ERROR, f"Your program {how} before training finished.", {}


def _raised_at_evaluation(training: Training) -> tuple[str, dict[str, Any]]:
    """What to say when the model raised on the evaluation inputs: what it raised on the public ones.

    The checks on the final model called it on public validation inputs before any hidden input
    entered the sandbox; their exception is the student's to see. Nothing from the evaluation is.
    """
    public = training.probes.get("model_call_error") or {}
    kind, text = public.get("type"), public.get("message")
    if not isinstance(kind, str) or not isinstance(text, str):
        return (
            "Your model raised an exception while predicting on the evaluation inputs, though it ran on "
            "the public validation inputs after training. Look for code in forward() that depends on the "
            "number of inputs in a batch (the evaluation sends them in batches of up to 4,096).",
            {},
        )
    file, line = public.get("file"), public.get("line")
    name = file.rsplit("/", 1)[-1] if isinstance(file, str) and isinstance(line, int) else ""
    where = f" ({name}, line {line})" if name else ""
    code = public.get("code")
    shown = f"\n    {code.strip()}" if isinstance(code, str) and code.strip() else ""
    message = (
        "Your model raised an exception while predicting. Called on the public validation inputs after "
        f"training (eval mode, under torch.no_grad()), it raised{where}:{shown}\n{kind[:100]}: {text[:600]}"
    )
    details: dict[str, Any] = {"file": name, "line": line} if name else {}
    return message, details


def _internal_message(outcome: SandboxOutcome) -> str:
    tail = outcome.stderr.strip().splitlines()[-3:]
    reason = outcome.killed_for or (
        f"signal {outcome.signal}" if outcome.signal else f"status {outcome.exit_code}"
    )
    return (f"The grading sandbox failed ({reason}). {NOT_CHARGED} " + " | ".join(tail)).strip()
