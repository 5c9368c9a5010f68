"""Students' scripts as people outside this project write them, graded for real (tests/corpus/real).

Every file is modelled on a public script (its header cites the address) and states what its source's
accepted answer names as the mistake. All of them train in the real sandbox, two at a time, and are
judged: a correct script must pass with no warning and no error; a wrong one must be named, its cause
first among the diagnoses; no run may end as a platform failure or show the harness's own frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import (  # tests/corpus: the scripts and how they are judged
    Outcome,
    cases,
    run_all,
    run_case,
    table,
)

from grader.engine.diagnosis.failure_rules import SANDBOX_PACKAGES
from grader.engine.runner.session import RunRequest, run_submission
from grader.engine.spec import builtin_slugs, find, parse
from grader.engine.verdicts import Verdict

pytestmark = pytest.mark.long  # grades every script of the corpus of real students' code

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
NAMED_AT_LEAST = 0.9
# One cause per class of failure issue 15 lists; the corpus holds at least one script for each.
CLASSES = {
    "harness collides with student code": "own_train_method.py",
    "output convention": "output_convention",
    "preprocessing outside the model": "scaling_outside_model",
    "training that never happened": "no_backward",
    "optimizer of another model": "optimizer_not_on_model",
    "optimizer re-created": "optimizer_recreated",
    "loss cut off from the model": "loss_not_connected",
    "no hidden layer on a nonlinear task": "linear_model",
    "sigmoid or softmax before cross-entropy": "sigmoid_then_cross_entropy",
    "missing package": "missing_package",
    "no network": "no_network",
    "removed API": "removed_api",
    "budget checked when the model first runs": "paraboloid_wide_deep_net.py",
}
# Styles that correct scripts must be graded right in, by a text each contains.
STYLES = (
    "DataLoader",
    "def train(",
    "def fit(",
    "__main__",
    "argparse",
    "tqdm",
    "StandardScaler",
    "torch.save",
)


@pytest.fixture(scope="module")
def outcomes(runner_config) -> list[Outcome]:
    found = run_all(cases(), runner_config.sandbox_uid, runner_config.jobs_dir)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "corpus.txt").write_text(table(found) + "\n")
    return found


def test_the_corpus_covers_every_assignment_class_and_style():
    corpus = cases()
    assert len(corpus) >= 30
    assert {c.assignment for c in corpus} == set(builtin_slugs())
    causes = {cause for c in corpus for cause in c.causes} | {c.name for c in corpus}
    missing = [name for name, cause in CLASSES.items() if cause not in causes]
    assert not missing, missing
    assert all(c.source.startswith(("https://", "http://")) for c in corpus)
    correct = [c for c in corpus if c.expect == "pass"]
    texts = "\n".join(c.path.read_text() for c in correct)
    assert [style for style in STYLES if style not in texts] == []
    assert any(c.path.suffix == ".ipynb" for c in correct)


def test_no_script_crashes_the_grader_or_is_charged_for_its_failure(outcomes):
    crashed = [o.case.name for o in outcomes if o.judgement == "crash"]
    assert not crashed, table(outcomes)
    assert all(o.report.verdict.charged for o in outcomes)


def test_correct_scripts_pass_with_no_warning_or_error(outcomes):
    wrong = [o for o in outcomes if o.case.expect == "pass" and o.judgement != "ok"]
    assert not wrong, table(outcomes)


def test_every_mistake_is_named_and_nearly_always_first(outcomes):
    failing = [o for o in outcomes if o.case.expect != "pass"]
    verdicts = [o.case.name for o in failing if o.judgement == "wrong verdict"]
    missed = [o.case.name for o in failing if o.judgement == "missed"]
    assert not verdicts and not missed, table(outcomes)
    named = sum(o.judgement == "named" for o in failing)
    assert named / len(failing) >= NAMED_AT_LEAST, table(outcomes)


def test_what_is_said_comes_from_the_students_run(outcomes):
    by_name = {o.case.name: o for o in outcomes}
    convention = {d.code: d for d in by_name["xor_sigmoid_bce.py"].report.diagnoses}["output_convention"]
    # Both readings, with the numbers: what the score would have been under the other.
    assert "read as probabilities" in convention.seen and "(100/100)" in convention.seen
    raised = by_name["circles_batch_size_hard_coded.py"].report
    assert (
        "circles_batch_size_hard_coded.py, line" in raised.message
    )  # the public run's line, not the harness's
    over = by_name["paraboloid_wide_deep_net.py"].report
    assert over.verdict is Verdict.OVER_BUDGET
    assert over.runs[0].result.usage.wall_seconds < 15  # stopped when it first ran, not after training
    missing = {d.code: d for d in by_name["mixture_official_tutorial_torchvision.py"].report.diagnoses}
    assert "'torchvision'" in missing["missing_package"].title and "tqdm" in missing["missing_package"].why


def test_the_packages_the_diagnoses_promise_are_in_the_sandbox(runner_config):
    imports = "\n".join(f"import {name}" for name in SANDBOX_PACKAGES)
    code = f"{imports}\nmodel = torch.nn.Linear(2, 1)\n"
    import numpy as np

    request = RunRequest({"main.py": code.encode()}, "main.py", "script", np.zeros((4, 2), np.float32))
    result = run_submission(request, uid=runner_config.sandbox_uid, jobs_root=runner_config.jobs_dir)
    assert result.verdict is Verdict.SCORED, result.message


def test_an_assignment_that_accepts_the_other_reading_grades_under_it(runner_config):
    # The same correct network that returns probabilities where logits are read scores 0 by default
    # (above); an assignment that accepts the other reading grades the hidden set as probabilities.
    xor = find("xor")
    lenient = parse(
        xor.text.replace('output = "logit"', 'output = "logit"\naccept_other_reading = true'),
        "xor", lambda name: xor.files[name],
    )  # fmt: skip
    case = next(c for c in cases() if c.name == "xor_sigmoid_bce.py")
    report = run_case(case, runner_config.sandbox_uid, runner_config.jobs_dir, spec=lenient).report
    assert report.passed, report.message
    assert any("Graded reading your model's outputs as probabilities" in note for note in report.notes)
    convention = {d.code: d for d in report.diagnoses}["output_convention"]
    assert convention.severity == "hint" and "accepts that reading" in convention.why
