"""The wire protocol between the host and the in-sandbox harness.

Three channels, none of them stdout or stderr (those are only kept as capped logs):

* ``metrics`` (sandbox -> host): one JSON object per line, at most
  ``MAX_RECORD_BYTES`` each. The host validates every record against
  ``RECORD_FIELDS``; anything else is dropped and counted, never trusted.
* ``control`` (host -> sandbox): frames. A frame is one JSON header line holding
  ``"bytes": N`` followed by exactly N raw bytes (``.npy`` data, never pickle).
* ``results`` (sandbox -> host): frames. First the trained weights
  (safetensors) and an empty ``trained`` frame after them; the host sends the
  evaluation inputs only once it has read both and the ``trained`` record, so
  the weights cannot carry hidden inputs out. Then the predictions (``.npy``),
  the only thing the host reads after the inputs went in.

Student code runs in the same process as the harness and can write to any of
these descriptors. That is harmless by construction: the score is computed on
the host from predictions against targets that never enter the sandbox, a
forged metric record can only misdescribe the student's own curve, and a
forged frame can only spoil the student's own predictions.

This module is pure standard library: the host imports it too.
"""

from __future__ import annotations

import json
from typing import Any

VERSION = 1


def version_mismatch(hello: dict[str, Any]) -> str | None:
    """What is wrong when a sandbox's harness speaks another protocol than this host (None: nothing).

    With containers, the harness comes with the sandbox image, built apart from the worker's: an image
    left behind by an upgrade must fail as the platform's error, never as the student's.
    """
    spoken = hello.get("v")
    if spoken == VERSION:
        return None
    return (
        f"the sandbox's harness speaks protocol version {spoken!r} and this worker {VERSION}: the sandbox "
        "image is out of date (rebuild it from the worker's code: scripts/build-images)"
    )


# Exit status of the harness when it fails itself. Student code can imitate it,
# which gains nothing: such a run is retried by the platform and never scored.
HARNESS_FAILED = 70

MAX_RECORD_BYTES = 64 * 1024
# The most one call of the trained model by the harness may take (a probe, a check on the final model):
# the host sends the job's budget, at most this, and keeps a deadline of its own over the checks.
MODEL_CALL_SECONDS = 10.0
MAX_HEADER_BYTES = 4 * 1024
MAX_SERIES = 200
MAX_SERIES_NAME = 120
MAX_POINTS_PER_RECORD = 4096
MAX_TEXT = 8 * 1024

# Record type -> {field: type}. Fields are all required unless listed in OPTIONAL.
RECORD_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    # The harness has imported torch and waits for its job.
    "hello": {"v": int, "torch": str, "device": str},
    # The student's code is about to run (anything later is the student's doing).
    "start": {"seed": int, "mode": str, "device": str},
    # A batch of points of one series: x and y of equal length.
    "points": {"series": str, "x": list, "y": list},
    # About once a second: where training is.
    "progress": {"step": int, "elapsed": (int, float), "loss": (int, float, type(None))},
    # A warning the student's code raised (deduplicated, with a count).
    "warning": {"category": str, "message": str, "file": str, "line": int, "count": int},
    # Counters the diagnoses rest on.
    "counters": {"backward": int, "steps": int, "zero_grad": int, "steps_without_zero_grad": int},
    # The model's outputs on public validation inputs at a sampled step (the host scores them).
    "heldout": {"step": int, "values": list},
    # The trained model's outputs on the first public validation inputs, from the checks after training
    # (the host reads their convention and scale against the public targets).
    "final_outputs": {"values": list},
    # What a diagnosis rests on (see harness/probes.py): a name and a small object of claims.
    "probe": {"name": str, "data": dict},
    # What the run trains with: the sweep point's settings (``params``), the platform loop's resolved
    # TRAINING (empty when the student's own code trains), what build_model was given, and who applied
    # the initialisation ("platform", "build_model", "script" or "none").
    "settings": {"params": dict, "training": dict, "build_kwargs": dict, "init": str, "init_by": str},
    # The held-out loss early stopping watched (the looks themselves are the "heldout_loss" series):
    # the first look, the best and its step, and the step it stopped at (None: it never stopped).
    "early_stopping": {
        "loss": str,
        "every": int,
        "patience": int,
        "min_delta": (int, float),
        "evaluations": int,
        "first": (int, float, type(None)),
        "best": (int, float, type(None)),
        "best_step": (int, type(None)),
        "stopped_at": (int, type(None)),
    },
    # The student's code is done; the harness now calls the model itself (its checks on the final
    # model): the host holds a deadline of its own over this phase.
    "phase": {"name": str},
    # The model that will be evaluated.
    "model": {"name": str, "cls": str, "params": int, "modules": list},
    # Training ended normally or was stopped at a budget; evaluation follows.
    "trained": {"reason": str, "steps": int, "seconds": (int, float)},
    # The student's code failed; the host turns this into a verdict.
    "failed": {"kind": str, "message": str},
}
OPTIONAL: dict[str, set[str]] = {
    "failed": {"file", "line", "traceback", "candidates", "params"},
    "trained": {"note"},
}
OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "file": str,
    "line": int,
    "traceback": str,
    "candidates": list,
    "note": str,
    "params": int,
}

FAILURE_KINDS = {
    "syntax_error",
    "runtime_error",
    "no_model",
    "memory_limit",
    "disk_limit",
    "bad_submission",
    "process_limit",
    "model_timeout",  # a call of the model by the harness (probes, checks) did not return in time
    "over_budget",  # the model has more parameters than allowed (stopped at its first training step)
    "harness_error",  # the harness's own code failed: the platform's fault
}
# "plateau": early stopping saw the held-out loss stop improving (see harness/early_stop.py).
TRAINED_REASONS = {"finished", "step_budget", "time_budget", "plateau"}
# The job's ``early_stopping.loss``: what the held-out loss is, chosen by the host from the task.
HELDOUT_LOSSES = ("mse", "cross_entropy", "bce", "bce_with_logits")


class ProtocolError(ValueError):
    """A record or frame that does not follow the protocol."""


def encode_record(record_type: str, /, **fields: Any) -> bytes:
    # The type first: past its caps the host still finds the records that end a run by their start.
    return (json.dumps({"t": record_type, **fields}, separators=(",", ":")) + "\n").encode()


def _number_or_none(value: Any) -> bool:
    # NaN and infinities are legitimate losses (a diverging run) and are kept.
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 2**1023  # any larger int overflows a float on the host
    return value is None or isinstance(value, float)


def decode_record(line: bytes) -> dict[str, Any]:
    """Parse and validate one metrics line; raise ProtocolError if it is not well formed."""
    if len(line) > MAX_RECORD_BYTES:
        raise ProtocolError("record too long")
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, a 5,000-digit int, deep nesting
        raise ProtocolError(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(record, dict):
        raise ProtocolError("not an object")
    kind = record.get("t")
    if not isinstance(kind, str) or kind not in RECORD_FIELDS:
        raise ProtocolError(f"unknown record type {kind!r}")
    spec = RECORD_FIELDS[kind]
    allowed = set(spec) | OPTIONAL.get(kind, set()) | {"t"}
    extra = set(record) - allowed
    if extra:
        raise ProtocolError(f"unexpected fields {sorted(extra)}")
    for name, typ in spec.items():
        if name not in record:
            raise ProtocolError(f"{kind}: missing {name}")
        value = record[name]
        if isinstance(value, bool) and typ is not bool:
            raise ProtocolError(f"{kind}.{name}: wrong type")
        if not isinstance(value, typ):
            raise ProtocolError(f"{kind}.{name}: wrong type")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ProtocolError(f"{kind}.{name}: too long")
    for name in OPTIONAL.get(kind, set()) & set(record):
        if not isinstance(record[name], OPTIONAL_TYPES[name]):
            raise ProtocolError(f"{kind}.{name}: wrong type")
    if kind == "points":
        _check_points(record)
    elif kind == "failed" and record["kind"] not in FAILURE_KINDS:
        raise ProtocolError(f"failed.kind {record['kind']!r} unknown")
    elif kind == "trained" and record["reason"] not in TRAINED_REASONS:
        raise ProtocolError(f"trained.reason {record['reason']!r} unknown")
    return record


def _check_points(record: dict[str, Any]) -> None:
    name, xs, ys = record["series"], record["x"], record["y"]
    if not name or len(name) > MAX_SERIES_NAME or not name.isprintable():
        raise ProtocolError("points.series: bad name")
    if len(xs) != len(ys) or len(xs) > MAX_POINTS_PER_RECORD:
        raise ProtocolError("points: x and y differ in length or are too long")
    for x in xs:
        if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 2**62:
            raise ProtocolError("points.x: steps are non-negative integers")
    for y in ys:
        if not _number_or_none(y):
            raise ProtocolError("points.y: numbers or null only")


def frame_header(frame_type: str, size: int, /, **fields: Any) -> bytes:
    fields.update(t=frame_type, bytes=size)
    header = json.dumps(fields, separators=(",", ":")).encode() + b"\n"
    if len(header) > MAX_HEADER_BYTES:
        raise ProtocolError("frame header too long")
    return header


def parse_frame_header(line: bytes, max_payload: int) -> dict[str, Any]:
    if len(line) > MAX_HEADER_BYTES:
        raise ProtocolError("frame header too long")
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise ProtocolError("frame header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("t"), str):
        raise ProtocolError("frame header has no type")
    size = header.get("bytes")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ProtocolError("frame header has no size")
    if size > max_payload:
        raise ProtocolError(f"frame of {size} bytes is over the {max_payload}-byte cap")
    return header
