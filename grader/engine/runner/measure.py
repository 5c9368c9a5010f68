"""What the host measures of a trained model itself, from its weights, instead of taking the sandbox's word.

The harness's ``model`` record says how many parameters the model has, but student code runs in the
same process and can write records of its own: a forged record passed a parameter budget with a
model two and a half times over it. The weights travel as safetensors, whose header (an 8-byte
length, then JSON) lists every tensor's dtype, shape and byte range; the host reads that header,
checks that the shapes account for exactly the bytes sent, and counts. The harness names which
tensors are parameters (not buffers such as BatchNorm's running statistics) in the header's
``__metadata__``. Nothing here runs or unpickles anything.
"""

from __future__ import annotations

import json
import math
import struct
from typing import TYPE_CHECKING, Any

from grader.engine.verdicts import Verdict

if TYPE_CHECKING:
    from grader.engine.runner.session import RunResult

MAX_HEADER = 16 * 1024 * 1024
MAX_TENSORS = 100_000
ITEM_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}


def parameter_count(weights: bytes | None) -> int | None:
    """The parameters in a safetensors payload, or None when it is not one that adds up."""
    if not weights or len(weights) < 8:
        return None
    (size,) = struct.unpack("<Q", weights[:8])
    if size > min(MAX_HEADER, len(weights) - 8):
        return None
    try:
        header = json.loads(weights[8 : 8 + size])
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict) or len(header) > MAX_TENSORS:
        return None
    metadata = header.pop("__metadata__", {})
    named = metadata.get("parameters") if isinstance(metadata, dict) else None
    parameters = set(named.split(",")) if isinstance(named, str) and named else None
    counts: dict[str, int] = {}
    total_bytes = 0
    for name, entry in header.items():
        count, length = _tensor(entry)
        if count is None:
            return None
        counts[name] = count
        total_bytes += length
    if total_bytes != len(weights) - 8 - size:
        return None  # the shapes do not account for the bytes sent
    if parameters is None:
        return sum(counts.values())
    return sum(count for name, count in counts.items() if name in parameters)


def _tensor(entry: Any) -> tuple[int | None, int]:
    """A tensor's element count and byte length, when its dtype, shape and offsets agree."""
    if not isinstance(entry, dict):
        return None, 0
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in ITEM_BYTES or not isinstance(shape, list) or len(shape) > 16:
        return None, 0
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return None, 0
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        return None, 0
    count = math.prod(shape)
    length = offsets[1] - offsets[0]
    if length != count * ITEM_BYTES[dtype]:
        return None, 0
    return count, length


def tampering(result: RunResult, measured: int | None) -> dict[str, Any]:
    """What the sandbox's records say against each other or against the weights (for the staff)."""
    t = result.training
    found: dict[str, Any] = {}
    odd = [claim for claim in t.claimed_parameters if claim != measured]
    if odd and measured is not None:
        found |= {"claimed_parameters": odd[0], "measured_parameters": measured}
    if result.weights_frames > 1:
        found["weights_frames"] = result.weights_frames
    for kind, extra in t.repeated.items():
        found[f"{kind}_records"] = extra + 1
    return found


def within_budget(allowed: int | None, result: RunResult) -> bool:
    """The parameter budget, counted by the host from the weights' own header (measure.py).

    The harness's ``model`` record is only a claim (student code can write records too), and so is a
    weights frame: the largest count of every frame that came is the one checked, and anything
    that disagrees is shown to the instructor. Weights the host cannot measure leave the budget
    unchecked, which the run does not get away with.
    """
    counts = [n for n in result.measured_parameters if n is not None]
    measured = max(counts) if counts else None
    evidence = tampering(result, measured)
    if evidence:
        result.details["records_disagree"] = evidence
    if allowed is None:
        return True
    if measured is None:
        result.verdict = Verdict.BAD_SUBMISSION
        result.message = (
            f"The grader could not read your trained model's weights, so it cannot check this "
            f"assignment's budget of {allowed:,} parameters. Keep the model a plain torch.nn.Module "
            "whose parameters are ordinary float tensors."
        )
        return False
    if measured > allowed:
        result.verdict = Verdict.OVER_BUDGET
        result.message = (
            f"Your model has {measured:,} parameters; this assignment allows at most {allowed:,}. "
            "Use fewer or narrower layers."
        )
        return False
    return True
