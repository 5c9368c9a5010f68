"""The data sets of an assignment: public splits from public seeds, the hidden set from a secret.

The public training and validation splits are reproducible by anyone from the
slug (students get them). The hidden set is drawn from a seed derived from a
secret that is not in the repository, so it cannot be derived from it.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np

from grader.engine.sampling import DataSet, draw, read_csv
from grader.engine.spec import Assignment

__all__ = ["DataSet", "hidden_set", "public_files", "public_split"]


def _seed(material: bytes) -> int:
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "little")


def _file_rows(assignment: Assignment) -> tuple[DataSet, np.ndarray]:
    """All rows of the data file and a public permutation: train first, then validation, then the rest."""
    assert assignment.data.file is not None
    rows = read_csv(assignment, assignment.data.file, with_target=True)
    order = np.random.default_rng(_seed(f"rows:{assignment.slug}".encode())).permutation(len(rows.targets))
    return rows, order


def _take(rows: DataSet, index: np.ndarray) -> DataSet:
    return DataSet(rows.inputs[index], rows.targets[index])


def public_split(assignment: Assignment, split: str) -> DataSet:
    data = assignment.data
    if data.file is not None:
        rows, order = _file_rows(assignment)
        start, size = (0, data.train_size) if split == "train" else (data.train_size, data.validation_size)
        return _take(rows, order[start : start + size])
    if split == "train" and data.train_file is not None:
        return read_csv(assignment, data.train_file, with_target=True)
    size = {"train": data.train_size, "validation": data.validation_size}[split]
    return draw(assignment, size, _seed(f"public:{assignment.slug}:{split}".encode()))


def hidden_set(assignment: Assignment, secret: bytes, version: int = 1) -> DataSet:
    if len(secret) < 16:
        raise ValueError("the hidden-set secret must be at least 16 bytes")
    digest = hmac.new(secret, f"hidden:{assignment.slug}:{version}".encode(), hashlib.sha256).digest()
    seed = int.from_bytes(digest[:8], "little")
    data = assignment.data
    if data.file is not None:
        rows, order = _file_rows(assignment)
        rest = order[data.train_size + data.validation_size :]
        chosen = np.random.default_rng(seed).choice(rest, size=data.hidden_size, replace=False)
        return _take(rows, chosen)
    return draw(assignment, data.hidden_size, seed)


def public_files(assignment: Assignment) -> dict[str, np.ndarray]:
    """What enters the sandbox: the public splits, with targets (they are public)."""
    label_type = np.int64 if assignment.task.type == "multiclass" else np.float32
    files: dict[str, np.ndarray] = {}
    splits = ["validation"]
    if assignment.data.train_size or assignment.data.train_file:
        splits.insert(0, "train")
    for split in splits:
        part = public_split(assignment, split)
        short = "train" if split == "train" else "val"
        files |= {f"x_{short}": part.inputs, f"y_{short}": part.targets.astype(label_type)}
    return files
