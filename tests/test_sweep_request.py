"""Sweep requests and the assignment's [sweep] table: expansion, caps and refusals naming the field."""

from __future__ import annotations

import pytest

from grader.engine.fields import SpecError, Table
from grader.engine.sweep_request import SweepRefused, from_json, from_source, plan
from grader.engine.sweep_rules import SweepPolicy, SweepRequirement, parse_sweep
from grader.engine.sweep_settings import OPTIMIZERS, SETTINGS

POLICY = SweepPolicy(max_runs=12)


def test_a_grid_runs_every_combination_in_order():
    result = plan({"grid": {"lr": [0.1, 0.01, 0.001], "optimizer": ["sgd", "Adam"]}}, POLICY, b"x")
    assert result.method == "grid" and result.runs == 6 and result.seeds == 1
    assert result.points[:3] == [
        {"lr": 0.1, "optimizer": "sgd"},
        {"lr": 0.1, "optimizer": "adam"},
        {"lr": 0.01, "optimizer": "sgd"},
    ]


def test_a_random_search_draws_the_same_points_for_the_same_upload():
    raw = {
        "random": {"lr": {"log_uniform": [1e-5, 1e-1]}, "hidden": [16, 32, [64, 64]]},
        "samples": 5,
        "seeds": 2,
    }
    first, again, other = plan(raw, POLICY, b"a"), plan(raw, POLICY, b"a"), plan(raw, POLICY, b"b")
    assert first.points == again.points != other.points
    assert first.runs == 10
    assert all(1e-5 <= p["lr"] <= 1e-1 and p["hidden"] in (16, 32, [64, 64]) for p in first.points)


def test_fixed_settings_join_every_point():
    result = plan({"grid": {"lr": [0.1, 0.01]}, "fixed": {"optimizer": "sgd", "momentum": 0.9}}, POLICY, b"x")
    assert all(p["optimizer"] == "sgd" and p["momentum"] == 0.9 for p in result.points)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"grid": {"learning_rate": [0.1]}}, ("sweep.grid.learning_rate", "unknown setting", "lr")),
        ({"grid": {"lr": [0.1, "fast"]}}, ("sweep.grid.lr[1]", "'fast' is not a number")),
        ({"grid": {"lr": [0.1, -1]}}, ("sweep.grid.lr[1]", "greater than 0")),
        ({"grid": {"batch_size": [32, 12.5]}}, ("sweep.grid.batch_size[1]", "not a whole number")),
        ({"grid": {"optimizer": ["sgd", "lbfgs"]}}, ("sweep.grid.optimizer[1]", "lbfgs", "adam")),
        ({"grid": {"hidden": [[16, 0]]}}, ("sweep.grid.hidden[0]", "layer size")),
        ({"grid": {"lr": 0.1}}, ("sweep.grid.lr", "list")),
        ({"grid": {"lr": [0.1, 0.1]}}, ("sweep.grid.lr", "twice")),
        ({"grid": {"lr": [0.1]}, "random": {"lr": [0.1]}}, ("sweep", "either")),
        ({"grid": {"lr": [0.1]}, "seed": 2}, ("sweep.seed", "unknown field")),
        ({"grid": {"lr": [0.1]}, "seeds": 0}, ("sweep.seeds", "1 to 10")),
        ({"random": {"lr": {"normal": [0, 1]}}, "samples": 2}, ("sweep.random.lr", "log_uniform")),
        (
            {"random": {"lr": {"log_uniform": [0.1, 0.01]}}, "samples": 2},
            ("sweep.random.lr.log_uniform", "below"),
        ),
        (
            {"random": {"optimizer": {"uniform": [0, 1]}}, "samples": 2},
            ("sweep.random.optimizer.uniform", "choices"),
        ),
        ({"random": {"lr": [0.1]}}, ("sweep.samples", "1 to 12")),
        ({"grid": {"lr": [0.1]}, "fixed": {"lr": 0.2}}, ("sweep.grid.lr", "sweep.fixed")),
        ("lr=0.1", ("sweep", "dict")),
    ],
)
def test_a_bad_sweep_is_refused_naming_the_field(raw, names):
    with pytest.raises(SweepRefused) as refused:
        plan(raw, POLICY, b"x")
    for name in names:
        assert name in str(refused.value), str(refused.value)


def test_a_sweep_over_its_cap_says_how_many_runs_it_would_be():
    with pytest.raises(SweepRefused, match=r"3 x 5 = 15 points x 1 seed\(s\) = 15 runs; .* at most 12"):
        plan({"grid": {"lr": [1, 0.1, 0.01], "batch_size": [8, 16, 32, 64, 128]}}, POLICY, b"x")
    with pytest.raises(SweepRefused, match="= 18 runs"):
        plan({"grid": {"lr": [1, 0.1, 0.01]}, "seeds": 6}, POLICY, b"x")


def test_a_huge_grid_is_refused_before_it_is_expanded():
    grid = {name: list(range(1, 101)) for name in ("batch_size", "steps", "epochs")}
    grid["lr"] = [10 ** -(i / 10) for i in range(1, 101)]
    with pytest.raises(SweepRefused, match="100 x 100 x 100 x 100 = 100000000 points"):
        plan({"grid": grid}, POLICY, b"x")


def test_an_assignment_may_limit_what_varies_and_require_a_span():
    policy = SweepPolicy(settings=("lr",), require=SweepRequirement("lr", min_values=5, span_decades=4))
    with pytest.raises(SweepRefused, match=r"sweep.grid.optimizer: .* may vary lr only"):
        plan({"grid": {"optimizer": ["sgd"]}}, policy, b"x")
    with pytest.raises(SweepRefused, match="at least 5 values of lr spanning 4 decades"):
        plan({"grid": {"lr": [0.1, 0.01]}}, policy, b"x")
    with pytest.raises(SweepRefused, match="spans 3 decades"):
        plan({"grid": {"lr": [1e-1, 1e-2, 1e-3, 3e-4, 1e-4]}}, policy, b"x")
    assert plan({"grid": {"lr": [1e-1, 1e-2, 1e-3, 1e-4, 1e-5]}}, policy, b"x").runs == 5


def test_an_assignment_without_a_sweep_table_refuses_sweeps():
    with pytest.raises(SweepRefused, match="does not take sweeps"):
        plan({"grid": {"lr": [0.1]}}, None, b"x")


def test_the_sweep_literal_is_read_from_the_source_without_running_it():
    source = b"import os\nos.system('touch /tmp/pwned')\nSWEEP = {'grid': {'lr': [0.1, 1e-2]}}\n"
    assert from_source(source, "s.py") == {"grid": {"lr": [0.1, 0.01]}}
    assert from_source(b"x = 1\n", "s.py") is None
    assert from_source(b"SWEEP: dict = {'grid': {'lr': [0.5]}}\n", "s.py") == {"grid": {"lr": [0.5]}}
    with pytest.raises(SweepRefused, match=r"s.py, line 2: SWEEP must be written out as a literal"):
        from_source(b"lrs = [0.1]\nSWEEP = {'grid': {'lr': lrs}}\n", "s.py")
    with pytest.raises(SweepRefused, match="not valid JSON"):
        from_json("{grid: }")


def test_the_spec_table_parses_and_refuses_with_the_field_named():
    policy = parse_sweep(
        Table(
            {"sweep": {"max_runs": 8, "settings": ["lr", "optimizer"], "restarts": 1,
                       "early_stopping": {"patience": 3, "min_delta": 0.02},
                       "require": {"setting": "lr", "min_values": 3, "span_decades": 2}}},
            "a.toml", {"sweep"},
        )
    )  # fmt: skip
    assert policy is not None and policy.max_runs == 8 and policy.restarts == 1
    assert policy.early_stopping is not None and policy.early_stopping.patience == 3
    assert policy.require == SweepRequirement("lr", 3, 2.0)
    for raw, message in [
        ({"settings": ["lr", "momentum_"]}, "sweep.settings[1]: unknown setting 'momentum_'"),
        ({"max_runs": 500}, "at most 200"),
        ({"require": {"setting": "batch_size"}, "settings": ["lr"]}, "sweep.require.setting"),
        ({"early_stopping": {"patience": 0}}, "sweep.early_stopping.patience"),
        ({"colour": 1}, "unknown field 'colour'"),
    ]:
        with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_sweep(Table({"sweep": raw}, "a.toml", {"sweep"}))


def test_the_optimizers_are_the_platform_loop_s():
    from grader.engine.harness.platform_loop import OPTIMIZERS as LOOP

    assert set(OPTIMIZERS) == set(LOOP)
    assert {"lr", "optimizer", "hidden", "activation", "init", "batch_size", "steps"} <= set(SETTINGS)


def test_hostile_sweeps_are_refused_with_a_message_not_a_crash():
    with pytest.raises(SweepRefused, match="nested too deeply"):
        from_json("[" * 5000)
    with pytest.raises(SweepRefused, match=r"sweep.grid.hidden\[0\].*at most 64"):
        plan({"grid": {"hidden": [[8] * 65]}}, POLICY, b"x")
    with pytest.raises(SweepRefused, match="1 to 100 choices"):
        plan({"random": {"batch_size": list(range(1, 200))}, "samples": 2}, POLICY, b"x")
    wide = {"random": {"hidden": [[4096 + i] * 64 for i in range(100)]}, "samples": 200}
    with pytest.raises(SweepRefused, match="more than 64 KiB"):
        plan(wide, SweepPolicy(max_runs=200), b"x")


def test_a_required_setting_with_list_values_is_counted_by_value():
    policy = SweepPolicy(require=SweepRequirement("hidden", min_values=3))
    assert plan({"grid": {"hidden": [[8], [8, 8], 16]}}, policy, b"x").runs == 3
    with pytest.raises(SweepRefused, match="at least 3 values of hidden"):
        plan({"grid": {"hidden": [[8], [8, 8]]}}, policy, b"x")
