"""The grid a trained model is drawn on: axes from the spec, constraints as gaps, truth only when known."""

from __future__ import annotations

import numpy as np
import pytest

from grader.engine import spec as spec_module
from grader.engine.datasets import public_files
from grader.engine.grid import domain_grid, fit_view
from grader.engine.spec import BUILTIN, find


def _grid(slug: str):  # type: ignore[no-untyped-def]
    spec = find(slug)
    return spec, domain_grid(spec, public_files(spec).get("x_val"))


def test_one_input_gets_a_line_against_the_truth():
    spec, grid = _grid("linear")
    assert grid is not None and len(grid.axes) == 1 and grid.inputs.shape == (201, 1)
    x = grid.axes[0].values
    assert (x[0], x[-1]) == (0.0, 10.0)
    view = fit_view(spec, grid, 2 * x + 1)
    assert view["kind"] == "line" and view["truth"] is not None
    assert view["truth"][:3] == pytest.approx(list(2 * x[:3] + 1))  # the spec's y = 2x + 1


def test_two_inputs_on_log_ranges_get_log_axes():
    _, grid = _grid("heat-transfer")
    assert grid is not None and [a.log for a in grid.axes] == [True, True]
    assert grid.axes[0].values[0] == pytest.approx(1e4) and grid.axes[0].values[-1] == pytest.approx(1e6)
    assert np.allclose(np.diff(np.log(grid.axes[0].values)), np.log(100) / 40)


def test_regression_heat_map_carries_the_signed_error():
    spec, grid = _grid("paraboloid")
    assert grid is not None and grid.inputs.shape == (41 * 41, 2) and grid.truth is not None
    predicted = grid.truth + 0.1
    predicted[5] = np.inf  # a wild value off the evaluation points is a gap, not a crash
    view = fit_view(spec, grid, predicted)
    assert view["kind"] == "heatmap"
    assert view["error"][0] == pytest.approx(0.1) and view["error"][5] is None


def test_classes_from_latent_variables_get_regions_and_the_public_points():
    spec, grid = _grid("concentric-circles")
    assert grid is not None and grid.truth is None  # the class is a latent draw: no truth per point
    assert [(a.values[0], a.values[-1]) for a in grid.axes] == [(-4.0, 4.0), (-4.0, 4.0)]
    public = public_files(spec)
    view = fit_view(spec, grid, np.zeros(len(grid.inputs)), (public["x_val"], public["y_val"]))
    assert view["kind"] == "regions" and view["classes"] == 3
    assert len(view["points"]["x"]) == min(300, len(public["y_val"]))
    assert set(view["points"]["label"]) <= {0.0, 1.0, 2.0}


def test_ranges_come_from_the_public_points_when_the_spec_gives_none():
    spec, grid = _grid("gaussian-mixture")
    x_val = public_files(spec)["x_val"]
    assert grid is not None and grid.axes[0].values[0] == pytest.approx(float(x_val[:, 0].min()))


def test_no_grid_beyond_two_inputs():
    assert _grid("engineering-formula")[1] is None


def test_points_outside_the_constraints_are_gaps():
    text = (BUILTIN / "paraboloid" / "assignment.toml").read_text()
    text = text.replace("[task]", 'constraints = ["x**2 + y**2 <= 1"]\n\n[task]', 1)
    spec = spec_module.parse(text, "disc", spec_module.bundle_reader({}, "disc"), validate=False)
    grid = domain_grid(spec)
    assert grid is not None and 0 < grid.inside.sum() < len(grid.inside)
    view = fit_view(spec, grid, grid.truth)
    corner = len(grid.inputs) - 1  # (1, 1): outside the disc
    assert not grid.inside[corner] and view["prediction"][corner] is None and view["truth"][0] == 0.0
