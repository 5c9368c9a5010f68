"""Data drawn from a spec: public splits from public seeds, the hidden set from a secret.

The public training and validation splits are reproducible by anyone from the
slug (students get them). The hidden set is drawn from a seed derived from a
secret that is not in the repository, so it cannot be derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np

from . import expression
from .spec import Assignment


@dataclass(frozen=True)
class DataSet:
    inputs: np.ndarray  # float32 [N, d]
    targets: np.ndarray  # float64 [N]


def _seed(material: bytes) -> int:
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "little")


def draw(assignment: Assignment, size: int, seed: int) -> DataSet:
    rng = np.random.default_rng(seed)
    columns = {}
    for spec in assignment.inputs:
        if spec.distribution == "log-uniform":
            columns[spec.name] = np.exp(rng.uniform(np.log(spec.low), np.log(spec.high), size))
        else:
            columns[spec.name] = rng.uniform(spec.low, spec.high, size)
    targets = expression.evaluate(assignment.target_tree, columns)
    inputs = np.stack([columns[s.name] for s in assignment.inputs], axis=1).astype(np.float32)
    return DataSet(inputs, np.broadcast_to(targets, (size,)).astype(np.float64))


def public_split(assignment: Assignment, split: str) -> DataSet:
    size = {"train": assignment.train_size, "validation": assignment.validation_size}[split]
    return draw(assignment, size, _seed(f"public:{assignment.slug}:{split}".encode()))


def hidden_set(assignment: Assignment, secret: bytes, version: int = 1) -> DataSet:
    if len(secret) < 16:
        raise ValueError("the hidden-set secret must be at least 16 bytes")
    digest = hmac.new(secret, f"hidden:{assignment.slug}:{version}".encode(), hashlib.sha256).digest()
    return draw(assignment, assignment.hidden_size, int.from_bytes(digest[:8], "little"))


def public_files(assignment: Assignment) -> dict[str, np.ndarray]:
    """What enters the sandbox: the public splits, with targets (they are public)."""
    files: dict[str, np.ndarray] = {}
    if assignment.train_size:
        train = public_split(assignment, "train")
        files |= {"x_train": train.inputs, "y_train": train.targets.astype(np.float32)}
    validation = public_split(assignment, "validation")
    files |= {"x_val": validation.inputs, "y_val": validation.targets.astype(np.float32)}
    return files
