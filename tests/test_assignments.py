"""Assignment specs and the data drawn from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.assignments import datasets
from grader.assignments.spec import SpecError, find, load


def test_paraboloid_spec_and_public_data():
    assignment = find("paraboloid")
    assert [i.name for i in assignment.inputs] == ["x", "y"] and assignment.metric == "mse"
    train = datasets.public_split(assignment, "train")
    assert train.inputs.shape == (1000, 2) and train.inputs.dtype == np.float32
    assert np.allclose(train.targets, (train.inputs.astype(np.float64) ** 2).sum(1), atol=1e-6)
    again = datasets.public_split(assignment, "train")
    assert np.array_equal(train.inputs, again.inputs)


def test_hidden_set_depends_on_the_secret_and_not_on_public_seeds():
    assignment = find("paraboloid")
    one = datasets.hidden_set(assignment, b"a" * 32)
    two = datasets.hidden_set(assignment, b"b" * 32)
    validation = datasets.public_split(assignment, "validation")
    assert one.inputs.shape == (5000, 2)
    assert not np.array_equal(one.inputs[:10], two.inputs[:10])
    assert not np.array_equal(one.inputs[:10], validation.inputs[:10])
    assert np.array_equal(one.inputs, datasets.hidden_set(assignment, b"a" * 32).inputs)
    with pytest.raises(ValueError, match="16 bytes"):
        datasets.hidden_set(assignment, b"short")


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "a"
    folder.mkdir(exist_ok=True)
    (folder / "assignment.toml").write_text(text)
    return folder


BASE = """
slug = "t"
title = "T"
task = "regression"
[inputs]
x = { low = 0.0, high = 1.0 }
[target]
expression = "{expr}"
[data]
validation_size = 10
hidden_size = 10
[metric]
name = "{metric}"
full_marks_at = 0.001
zero_at = 0.1
"""


@pytest.mark.parametrize(
    "expr, metric, extra, message",
    [
        ("x**2 +", "mse", "", "does not parse"),
        ("z * 2", "mse", "", "unknown name 'z'"),
        ("__import__('os')", "mse", "", "only these functions"),
        ("x", "accuracy", "", "metric.name 'accuracy'"),
        ("x", "mse", "colour = 'red'\n", "unknown field 'colour'"),
    ],
)
def test_spec_errors_name_the_file_and_field(tmp_path, expr, metric, extra, message):
    folder = _write(tmp_path, extra + BASE.replace("{expr}", expr).replace("{metric}", metric))
    with pytest.raises(SpecError, match=message) as info:
        load(folder)
    assert "assignment.toml" in str(info.value)


def test_unknown_assignment_lists_the_built_in_ones():
    with pytest.raises(SpecError, match="paraboloid"):
        find("no-such-thing")
