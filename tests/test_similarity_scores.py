"""The similarity check's scores on their own: code (winnowing, the starter left out) and behaviour
(how models err, their loss curves), and the fingerprint's bounds whatever a sandbox sent."""

from __future__ import annotations

import numpy as np
from support.similarity import CLASS

from grader.engine.fingerprint import CLIP, MAX_POINTS, behaviour_print
from grader.engine.rules import Task
from grader.engine.spec import find
from grader.engine.starter import starter_script
from grader.similarity.behaviour import combined_score, curves_alike, errors_alike
from grader.similarity.code import code_print, compare_code, starter_hashes

REGRESSION = Task("regression", "value")


def test_a_renamed_and_reordered_copy_matches_and_an_independent_model_does_not():
    prints = {name: code_print(text, []) for name, text in CLASS.items()}
    copy = compare_code(prints["original.py"], prints["renamed.py"])
    assert copy.score > 0.85 and copy.left and copy.right
    assert compare_code(prints["original.py"], prints["independent.py"]).score < 0.3
    assert compare_code(prints["renamed.py"], prints["independent.py"]).score < 0.3


def test_the_starter_code_is_never_a_match():
    starter = starter_script(find("paraboloid"))
    boilerplate = starter_hashes(starter)
    handed_out = code_print(starter, boilerplate)
    assert compare_code(handed_out, code_print(starter, boilerplate)).score == 0.0
    assert compare_code(code_print(starter, []), code_print(starter, [])).score == 1.0


def test_the_fingerprint_is_bounded_whatever_the_values():
    targets = np.linspace(0, 1, 5000)
    wild = np.full(5000, 1e300)
    found = behaviour_print(REGRESSION, wild, targets)
    assert found is not None and len(found["codes"]) == MAX_POINTS
    assert max(abs(c) for c in found["codes"]) == CLIP
    assert behaviour_print(REGRESSION, None, targets) is None
    assert behaviour_print(REGRESSION, wild[:10], targets) is None  # a count that does not fit
    classes = behaviour_print(Task("binary", "probability"), np.array([1.0, 0.0, 1.0]), np.array([1, 1, 1]))
    assert classes == {"kind": "classes", "codes": [-1]}  # the public part of three points: one


def test_the_same_errors_and_curves_stand_out_and_independent_ones_do_not():
    draw = np.random.default_rng(0)
    targets = draw.uniform(0, 2, 1000)
    one = behaviour_print(REGRESSION, targets + draw.normal(0, 0.01, 1000), targets)
    other = behaviour_print(REGRESSION, targets + draw.normal(0, 0.01, 1000), targets)
    assert errors_alike(one, one) == 1.0
    assert (errors_alike(one, other) or 0.0) < 0.1
    steps = list(range(0, 500, 5))
    curve = [1 / (1 + s) for s in steps]
    assert curves_alike((steps, curve), (steps, list(curve))) == 1.0
    assert curves_alike((steps, curve), (steps, [v * 1.01 for v in curve])) == 0.0
    assert curves_alike((steps, curve), None) is None
    assert combined_score(0.9, None) == 0.9
    assert combined_score(0.0, 1.0) == 1.0
