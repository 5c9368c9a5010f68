"""Assignment specs and the data drawn from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.engine import datasets
from grader.engine.spec import SpecError, builtin_slugs, find, load


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


def _write(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "a"
    folder.mkdir(exist_ok=True)
    (folder / "assignment.toml").write_text(text)
    for name, content in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    return folder


# A valid spec with every section; each test below breaks one thing.
BASE = """
slug = "t"
title = "T"
constraints = ["x2 <= x1"]
[task]
type = "regression"
output = "value"
[inputs]
x1 = { distribution = "uniform", low = 1.0, high = 10.0 }
x2 = { distribution = "log-uniform", low = 1.0, high = 10.0 }
[target]
expression = "x1 / x2"
[data]
train_size = 20
validation_size = 10
hidden_size = 10
[metric]
name = "relative_error"
full_marks_at = 0.01
zero_at = 0.5
[budget]
wall_seconds = 60
train_seconds = 30
[submissions]
per_day = 5
deadline = 2026-12-01T23:59:00Z
"""


def test_the_base_spec_is_valid(tmp_path):
    spec = load(_write(tmp_path, BASE))
    sample = datasets.public_split(spec, "train")
    assert np.all(sample.inputs[:, 1] <= sample.inputs[:, 0])
    assert spec.submissions.deadline is not None and spec.submissions.deadline.tzinfo is None


@pytest.mark.parametrize(
    "old, new, message",
    [
        # an unknown field, at the top and inside a table, names what is allowed there
        (
            'title = "T"',
            'title = "T"\ncolour = "red"',
            r"unknown field 'colour'; allowed here: budget, constraints",
        ),
        ("zero_at = 0.5", "zero_at = 0.5\nthreshold = 1", r"metric: unknown field 'threshold'; allowed here"),
        # bad ranges and types
        ("low = 1.0, high = 10.0 }\nx2", "low = 10.0, high = 1.0 }\nx2", r"inputs\.x1: need low < high"),
        (
            '"log-uniform", low = 1.0',
            '"log-uniform", low = 0.0',
            r"inputs\.x2\.low: a log-uniform range must",
        ),
        (
            '"uniform", low = 1.0',
            '"gaussian", low = 1.0',
            r"inputs\.x1\.distribution: 'gaussian' is not allowed",
        ),
        ("hidden_size = 10", "hidden_size = 3", r"data\.hidden_size: 3 is outside the allowed 10"),
        ("validation_size = 10", 'validation_size = "ten"', r"data\.validation_size: expected an integer"),
        ("train_seconds = 30", "train_seconds = 59", r"budget: train_seconds \+ eval_seconds .* must fit"),
        ("per_day = 5", "per_day = 0", r"submissions\.per_day: must be greater than 0"),
        ("per_day = 5", "per_day = 5\nteam_min = 2", r"submissions\.team_min: only with team_max"),
        (
            "per_day = 5",
            "per_day = 5\nteam_max = 2\nteam_min = 3",
            r"submissions: teams need 1 <= team_min <= team_max",
        ),
        ("deadline = 2026-12-01T23:59:00Z", "deadline = 2026-12-01", r"submissions\.deadline: give a time"),
        # constraints no input can satisfy (with these ranges), or that are not conditions
        ('["x2 <= x1"]', '["x1 > 20"]', r"constraint 'x1 > 20' holds for none of 20,000 draws"),
        ('["x2 <= x1"]', '["x2 <= x1", "x1 < x2"]', r"constraints together hold for none"),
        ('["x2 <= x1"]', '["x1 + x2"]', r"constraints\[0\]: 'x1 \+ x2' is not a comparison"),
        # expressions that do not parse or use what they may not
        ('"x1 / x2"', '"x1 / "', r"target\.expression: 'x1 / ' does not parse"),
        ('"x1 / x2"', '"x1 / z"', r"unknown name 'z'; the inputs are x1, x2"),
        ('"x1 / x2"', "\"__import__('os')\"", r"only these functions may be called"),
        ('"x1 / x2"', '"log(x1 - 5)"', r"target: the target is nan at x1 = "),
        # a metric that does not fit the task type, or thresholds the wrong way round
        ('name = "relative_error"', 'name = "accuracy"', r"'accuracy' does not fit a regression task"),
        (
            'type = "regression"\noutput = "value"',
            'type = "binary"\noutput = "probability"',
            r"'relative_error' does not fit a binary task",
        ),
        ("full_marks_at = 0.01", "full_marks_at = 0.9", r"full_marks_at must be below zero_at"),
        # a cap under zero_at would keep every submission above zero points
        (
            "zero_at = 0.5",
            "zero_at = 0.5\ncap = 0.2",
            r"metric\.cap: only relative_error takes a cap, and it must be at least zero_at \(0\.5\)",
        ),
        (
            'name = "relative_error"\nfull_marks_at = 0.01\nzero_at = 0.5',
            'name = "mse"\nfull_marks_at = 0.01\nzero_at = 0.5\ncap = 1',
            r"metric\.cap: only relative_error takes a cap",
        ),
        ("full_marks_at = 0.01", "full_marks_at = nan", r"metric\.full_marks_at: expected a finite number"),
        ("train_size = 20", 'train_size = 20\nfile = "rows.csv"', r"target: with a data file .* column ="),
        ('output = "value"', 'output = "logit"', r"task\.output: 'logit' is not allowed; allowed: value"),
        # how much of the hidden-set metric students see, and how many sweep runs a day may probe it
        (
            "zero_at = 0.5",
            'zero_at = 0.5\n[grading]\ndisclosure = "full"',
            r"grading\.disclosure: 'full' is not allowed",
        ),
        (
            "zero_at = 0.5",
            "zero_at = 0.5\n[sweep]\nmax_runs = 20\nruns_per_day = 10",
            r"sweep\.runs_per_day: 10; from max_runs \(20\), or no sweep could run, to 1000",
        ),
    ],
)
def test_each_mistake_gets_a_precise_error(tmp_path, old, new, message):
    assert old in BASE
    with pytest.raises(SpecError, match=message) as info:
        load(_write(tmp_path, BASE.replace(old, new, 1)))
    assert str(info.value).startswith(str(tmp_path / "a" / "assignment.toml"))


CLASSIFIER = BASE.replace(
    'type = "regression"\noutput = "value"', 'type = "multiclass"\noutput = "scores"\nclasses = 3'
)
CLASSIFIER = CLASSIFIER.replace(
    'name = "relative_error"\nfull_marks_at = 0.01\nzero_at = 0.5',
    'name = "macro_f1"\nfull_marks_at = 0.9\nzero_at = 0.4',
)


def test_classification_targets_must_be_class_numbers(tmp_path):
    with pytest.raises(SpecError, match=r"a multiclass target must be a class number 0\.\.2"):
        load(_write(tmp_path, CLASSIFIER))
    spec = load(_write(tmp_path, CLASSIFIER.replace('"x1 / x2"', '"pick(floor(x1 / 4), 0, 1, 2)"')))
    files = datasets.public_files(spec)
    assert files["y_train"].dtype == np.int64 and set(files["y_train"]) <= {0, 1, 2}


def test_latent_variables_shape_inputs_and_targets_but_never_reach_the_model(tmp_path):
    text = (
        CLASSIFIER.replace('constraints = ["x2 <= x1"]\n', "")
        .replace(
            '[inputs]\nx1 = { distribution = "uniform", low = 1.0, high = 10.0 }\n'
            'x2 = { distribution = "log-uniform", low = 1.0, high = 10.0 }',
            '[latent]\nk = { distribution = "choice", values = [0, 1, 2], weights = [1, 1, 2] }\n'
            'noise = { distribution = "normal", mean = 0.0, std = 0.1 }\n'
            '[inputs]\nx1 = { expression = "pick(k, -3, 0, 3) + noise" }\nx2 = { expression = "1 <= k" }',
        )
        .replace('"x1 / x2"', '"k"')
    )
    spec = load(_write(tmp_path, text))
    assert [v.name for v in spec.inputs] == ["x1", "x2"]
    data = datasets.public_split(spec, "train")
    assert data.inputs.shape == (20, 2)
    assert np.allclose(data.inputs[:, 0], np.choose(data.targets.astype(int), [-3, 0, 3]), atol=0.6)


def test_a_target_function_and_a_training_file_travel_with_the_spec(tmp_path):
    text = BASE.replace('expression = "x1 / x2"', 'function = "target.py:ratio"').replace(
        "train_size = 20", 'train_file = "train.csv"'
    )
    folder = _write(
        tmp_path, text,
        {"target.py": "def ratio(x2, x1):\n    return x1 / x2\n", "train.csv": "x1,x2,target\n4,2,2\n9,3,3\n"},
    )  # fmt: skip
    spec = load(folder)
    assert set(spec.files) == {"target.py", "train.csv"}
    assert datasets.public_split(spec, "train").targets.tolist() == [2.0, 3.0]
    hidden = datasets.hidden_set(spec, b"s" * 32)
    assert np.allclose(
        hidden.targets, hidden.inputs[:, 0].astype(np.float64) / hidden.inputs[:, 1], rtol=1e-6
    )
    digest = spec.digest
    (folder / "target.py").write_text("def ratio(x2, x1):\n    return 2 * x1 / x2\n")
    assert load(folder).digest != digest  # a changed function is a new version when published
    with pytest.raises(SpecError, match=r"target\.function: 'target\.py' must be|cannot read 'nope\.py'"):
        load(_write(tmp_path, text.replace("target.py:ratio", "nope.py:ratio")))
    with pytest.raises(SpecError, match=r"must be a path inside the assignment folder"):
        load(_write(tmp_path, text.replace("target.py:ratio", "../target.py:ratio")))


def test_every_built_in_spec_parses_and_declares_a_passing_reference():
    slugs = builtin_slugs()
    assert len(slugs) >= 1
    for slug in slugs:
        spec = find(slug)
        assert any(s.expect == "pass" for s in spec.solutions), slug
        assert spec.data.hidden_size >= 1000, slug


def test_unknown_assignment_lists_the_built_in_ones():
    with pytest.raises(SpecError, match="paraboloid"):
        find("no-such-thing")


@pytest.mark.parametrize("slug", builtin_slugs())
def test_built_in_hidden_sets_come_from_the_secret_alone(slug):
    spec = find(slug)
    one, two = datasets.hidden_set(spec, b"1" * 32), datasets.hidden_set(spec, b"2" * 32)
    assert one.inputs.shape == (spec.data.hidden_size, len(spec.inputs))
    assert not np.array_equal(one.inputs[:50], two.inputs[:50])
    for split in ("train", "validation"):
        public = datasets.public_split(spec, split)
        assert not np.array_equal(one.inputs[: len(public.inputs)], public.inputs[: len(one.inputs)])
    files = datasets.public_files(spec)
    assert files["x_val"].dtype == np.float32
    assert files["y_val"].dtype == (np.int64 if spec.task.type == "multiclass" else np.float32)


def test_all_splits_can_come_from_the_rows_of_a_data_file(tmp_path):
    rows = "\n".join(f"{i},{i * 0.5},{2 * i + 0.5 * i}" for i in range(400))
    text = (
        BASE.replace('constraints = ["x2 <= x1"]\n', "")
        .replace(
            '[inputs]\nx1 = { distribution = "uniform", low = 1.0, high = 10.0 }\n'
            'x2 = { distribution = "log-uniform", low = 1.0, high = 10.0 }',
            '[inputs]\nx1 = { description = "first column" }\nx2 = {}',
        )
        .replace('expression = "x1 / x2"', 'column = "y"')
        .replace("train_size = 20", 'train_size = 200\nfile = "rows.csv"')
        .replace("hidden_size = 10", "hidden_size = 100")
    )
    spec = load(_write(tmp_path, text, {"rows.csv": "x1,x2,y\n" + rows + "\n"}))
    train, validation = datasets.public_split(spec, "train"), datasets.public_split(spec, "validation")
    hidden = datasets.hidden_set(spec, b"k" * 32)
    assert (len(train.targets), len(validation.targets), len(hidden.targets)) == (200, 10, 100)
    seen = [set(part.inputs[:, 0].tolist()) for part in (train, validation, hidden)]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])  # disjoint splits
    assert np.allclose(hidden.targets, 2.5 * hidden.inputs[:, 0])
    with pytest.raises(SpecError, match=r"data\.file has 400 rows, fewer than the three splits ask"):
        load(_write(tmp_path, text.replace("hidden_size = 100", "hidden_size = 300")))
    with pytest.raises(SpecError, match=r"rows\.csv: no column 'y'"):
        load(_write(tmp_path, text, {"rows.csv": "x1,x2,z\n1,2,3\n"}))
