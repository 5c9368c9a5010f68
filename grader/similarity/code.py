"""Code similarity by winnowing (copydetect): identifiers and literals are filtered to one token each,
so renamed variables do not count, and matching is by fragment, so moved code still matches.

The assignment's starter script is boilerplate: what every student was handed is never a match.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from copydetect import CodeFingerprint, compare_files

K = 25  # characters of filtered code per fingerprint (copydetect's default noise threshold)
WINDOW = 1  # every k-gram kept: the files are short, and the check runs once per class
MAX_CODE_CHARS = 200_000  # a submission's code compared, at most (a zip of many scripts is cut)


@dataclass
class CodePrint:
    text: str
    fingerprint: CodeFingerprint


def starter_hashes(starter: str) -> list[int]:
    return sorted(CodeFingerprint("starter.py", K, WINDOW, fp=io.StringIO(starter)).hashes)


def code_print(text: str, boilerplate: list[int]) -> CodePrint:
    text = text[:MAX_CODE_CHARS]
    return CodePrint(
        text, CodeFingerprint("code.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(text))
    )


@dataclass
class CodeMatch:
    score: float  # the larger side's share of its code found in the other (0..1)
    left: list[tuple[int, int]]  # matching fragments: [start, end) character offsets in each side
    right: list[tuple[int, int]]


def compare_code(left: CodePrint, right: CodePrint, *, fragments: bool = True) -> CodeMatch:
    _, (share_left, share_right), (slices_left, slices_right) = compare_files(
        left.fingerprint, right.fingerprint
    )
    score = float(max(share_left, share_right))
    if not fragments or score == 0:
        return CodeMatch(score, [], [])
    return CodeMatch(score, _spans(slices_left), _spans(slices_right))


def _spans(slices: Any) -> list[tuple[int, int]]:
    starts, ends = slices[0], slices[1]
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]
