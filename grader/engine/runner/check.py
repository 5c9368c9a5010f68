"""``grader assignments check``: validate specs and run their declared solutions through the runner.

Each solution is graded exactly as a student's would be (the real sandbox, a
hidden set drawn from a fresh secret, the assignment's budgets and seeds), and
its outcome is compared with the one the spec declares.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader.engine import datasets
from grader.engine.fields import SpecError
from grader.engine.rules import Solution
from grader.engine.runner.grade import GradeReport, grade
from grader.engine.runner.submission import SubmissionRejected, prepare_submission
from grader.engine.sandbox.pool import WarmPool
from grader.engine.scoring import metric_label
from grader.engine.spec import Assignment, builtin_slugs, find
from grader.engine.verdicts import Verdict


@dataclass
class SolutionCheck:
    solution: Solution
    report: GradeReport | None = None
    error: str = ""
    seconds: float = 0.0

    @property
    def got(self) -> str:
        if self.report is None:
            return "not graded"
        if self.report.verdict is Verdict.SCORED:
            return "pass" if self.report.passed else "fail"
        return self.report.verdict.value

    @property
    def found(self) -> set[str]:
        return {d.code for d in self.report.diagnoses} if self.report else set()

    @property
    def false_alarms(self) -> list[str]:
        """Error- and warning-level diagnoses of a solution that must pass: each one costs trust."""
        if self.report is None or self.solution.expect != "pass":
            return []
        return [d.code for d in self.report.diagnoses if d.severity in ("error", "warning")]

    @property
    def ok(self) -> bool:
        if self.report is None or self.report.verdict.platform_failure:
            return False
        if set(self.solution.diagnoses) - self.found or self.false_alarms:
            return False
        expect = self.solution.expect
        if expect == "fail":
            return not self.report.passed
        return self.got == expect

    def describe(self) -> str:
        r = self.report
        if r is None:
            return self.error
        if r.score is not None and r.metric_value is not None:
            return f"{r.score:g}/{r.max_score:g} ({metric_label(r.metric_name)} {r.metric_value:.3g})"
        return f"{r.verdict.value}: {r.message.splitlines()[0][:100] if r.message else ''}"


@dataclass
class AssignmentCheck:
    name: str
    spec: Assignment | None = None
    error: str = ""
    solutions: list[SolutionCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and all(s.ok for s in self.solutions)


@dataclass(frozen=True)
class RunnerSettings:
    seeds: int | None = None  # None: the assignment's own number of seeds
    jobs: int = 2
    threads: int = 1
    uid: int | None = None
    jobs_root: Path | None = None
    pool: WarmPool | None = None  # a worker slot's warm sandboxes (used one job at a time: jobs = 1)
    gpu_index: int | None = None  # the GPU the worker slot owns


def load_all(paths: list[str]) -> list[AssignmentCheck]:
    """Parse each spec (every built-in one when ``paths`` is empty); parse errors are kept, not raised."""
    checks = []
    for path in paths or builtin_slugs():
        check = AssignmentCheck(path)
        try:
            check.spec = find(path)
            check.name = check.spec.slug
            if not check.spec.solutions:
                check.error = "declares no solutions (add reference.py or [[solutions]])"
        except SpecError as exc:
            check.error = str(exc)
        checks.append(check)
    return checks


def _run_one(spec: Assignment, item: SolutionCheck, settings: RunnerSettings) -> None:
    started = time.monotonic()
    assert spec.folder is not None
    path = spec.folder / item.solution.file
    try:
        prepared = prepare_submission(path.name, path.read_bytes())
    except (OSError, SubmissionRejected) as exc:
        item.error = f"cannot load {item.solution.file}: {exc}"
        return
    hidden = datasets.hidden_set(spec, secrets.token_bytes(32))
    count = settings.seeds or spec.grading.seeds
    item.report = grade(
        spec, prepared, hidden, list(range(count)), threads=settings.threads, pool=settings.pool,
        uid=settings.uid, jobs_root=settings.jobs_root, gpu_index=settings.gpu_index,
    )  # fmt: skip
    item.seconds = time.monotonic() - started


def check_solution(spec: Assignment, solution: Solution, settings: RunnerSettings) -> SolutionCheck:
    """Grade one declared solution of a parsed spec (its files in ``spec.folder``), as ``run_checks`` does."""
    item = SolutionCheck(solution)
    _run_one(spec, item, settings)
    return item


def run_checks(
    checks: list[AssignmentCheck],
    settings: RunnerSettings,
    on_done: Callable[[AssignmentCheck, SolutionCheck], None] | None = None,
) -> None:
    """Grade every declared solution of every parsed spec, ``settings.jobs`` sandboxes at a time."""
    work = []
    for check in checks:
        if check.spec is None or check.error:
            continue
        for solution in check.spec.solutions:
            item = SolutionCheck(solution)
            check.solutions.append(item)
            work.append((check, item))

    def task(pair: tuple[AssignmentCheck, SolutionCheck]) -> None:
        check, item = pair
        assert check.spec is not None
        _run_one(check.spec, item, settings)
        if on_done is not None:
            on_done(check, item)

    with ThreadPoolExecutor(max_workers=max(1, settings.jobs)) as pool:
        list(pool.map(task, work))


def format_line(check: AssignmentCheck, item: SolutionCheck) -> str:
    mark = "ok  " if item.ok else "DIFF"
    found = ", ".join(f"{d.severity}:{d.code}" for d in item.report.diagnoses) if item.report else ""
    return (
        f"{mark} {check.name:<22} {item.solution.file:<40} expect {item.solution.expect:<5} "
        f"got {item.got:<14} {item.describe()}  [{item.seconds:.1f} s]"
        + (f"\n       diagnosed: {found}" if found else "")
    )
