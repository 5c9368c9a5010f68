"""`grader assignments check` on every built-in assignment: each reference passes with no error or warning
diagnosis, each known-wrong solution fails and gets the diagnoses its spec declares (its bug, named),
in the real sandbox with the real budgets (one training seed each, to keep the suite short; `grader assignments check --seeds 5` is the thorough run, its figures are in the closing notes).
"""

from __future__ import annotations

import pytest

from grader.engine.runner.check import RunnerSettings, format_line, load_all, run_checks
from grader.engine.spec import builtin_slugs

EXPECTED = {
    "linear", "paraboloid", "engineering-formula", "threshold-classifier", "xor", "gaussian-mixture",
    "concentric-circles", "heat-transfer", "pipe-friction",
}  # fmt: skip


@pytest.mark.slow
def test_every_built_in_assignment_behaves_as_declared(runner_config, capsys):
    checks = load_all([])
    assert {c.name for c in checks} == EXPECTED == set(builtin_slugs())
    assert not [c.error for c in checks if c.error]
    settings = RunnerSettings(
        seeds=1, jobs=2, threads=1, uid=runner_config.sandbox_uid, jobs_root=runner_config.jobs_dir
    )
    run_checks(checks, settings)
    lines = [format_line(c, s) for c in checks for s in c.solutions]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert all(c.ok for c in checks), "\n".join(line for line in lines if line.startswith("DIFF"))
    for check in checks:
        kinds = [s.solution.expect for s in check.solutions]
        assert kinds.count("pass") >= 1 and len(kinds) >= 2, check.name  # a reference and a wrong one


@pytest.mark.slow
def test_every_starter_script_runs_and_follows_the_output_convention(runner_config):
    from concurrent.futures import ThreadPoolExecutor

    from grader.engine import datasets
    from grader.engine.runner.grade import grade
    from grader.engine.runner.submission import prepare_submission
    from grader.engine.spec import find
    from grader.engine.starter import starter_script
    from grader.engine.verdicts import Verdict

    def run(slug: str) -> tuple[str, str, str]:
        spec = find(slug)
        submission = prepare_submission(f"{slug}_starter.py", starter_script(spec).encode())
        hidden = datasets.hidden_set(spec, b"starter-secret-0123456789abcdef")
        report = grade(
            spec, submission, hidden, [0], uid=runner_config.sandbox_uid, jobs_root=runner_config.jobs_dir
        )
        return slug, report.verdict.value, report.message

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(run, sorted(EXPECTED)))
    assert all(verdict == Verdict.SCORED.value for _, verdict, _ in outcomes), outcomes
