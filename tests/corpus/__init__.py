"""The corpus of students' scripts modelled on real ones (``real/``), and how it is run and judged.

Each file reproduces, in this project's own words, the structure, style and mistake of a public
script (a forum question, a tutorial, a course notebook) adapted to a built-in assignment. Its header
names the address it is modelled on, what differs, the mistake the source's answer names, and one
machine-read line:

    # corpus: assignment=xor expect=fail cause=output_convention|mse_for_classification

``expect`` is ``pass`` (graded full marks, with no warning and no error: anything else is a false
alarm or a miss), ``fail`` (not full marks, or a failing verdict) or ``verdict:<name>``; ``cause``
lists the diagnosis codes that name the mistake (any one counts); ``message`` a text the verdict's
message must contain. ``python -m tests.corpus`` prints the table the closing notes quote.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader.engine import datasets
from grader.engine.diagnosis import diagnose, gather
from grader.engine.runner.grade import GradeReport, grade
from grader.engine.runner.submission import prepare_submission
from grader.engine.spec import Assignment, find

FOLDER = Path(__file__).parent / "real"
SECRET = b"corpus-of-real-scripts-secret-0123"
LINE = re.compile(r"^#\s*corpus:\s*(.+)$", re.M)
HARNESS_MARKS = ("/opt/grader/", "grader/engine/harness", "harness/")


@dataclass(frozen=True)
class Case:
    path: Path
    assignment: str
    expect: str  # pass | fail | verdict:<name>
    causes: tuple[str, ...] = ()
    message: str = ""
    source: str = ""

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Outcome:
    case: Case
    report: GradeReport
    codes: list[str] = field(default_factory=list)  # errors and warnings, most likely cause first

    @property
    def crashed(self) -> bool:
        """The platform failed, or the harness's own code ended up in what the student is told."""
        summary = self.report.summary()
        told = (self.report.message or "") + str(summary["details"].get("traceback", ""))
        return self.report.verdict.platform_failure or any(mark in told for mark in HARNESS_MARKS)

    @property
    def judgement(self) -> str:
        """named, partly, missed (a failing script); ok or false alarm (a correct one); crash; wrong verdict."""
        if self.crashed:
            return "crash"
        case, report = self.case, self.report
        if case.expect == "pass":
            if not report.passed:
                return "wrong verdict"
            doubted = report.chosen is not None and "learning_doubt" in report.chosen.result.details
            return "false alarm" if self.codes or doubted else "ok"
        if report.passed:
            return "wrong verdict"
        if case.expect.startswith("verdict:") and report.verdict.value != case.expect.split(":", 1)[1]:
            return "wrong verdict"
        if case.message and case.message not in report.message:
            return "missed"
        if not case.causes:
            return "named"
        if self.codes and self.codes[0] in case.causes:
            return "named"
        everything = [d.code for d in report.diagnoses]
        return "partly" if any(code in case.causes for code in everything) else "missed"


def _source(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        return "\n".join("".join(c["source"]) for c in cells)
    return text


def cases() -> list[Case]:
    found = []
    for path in sorted(FOLDER.iterdir()):
        if path.suffix not in (".py", ".ipynb", ".zip"):
            continue
        text = _source(path) if path.suffix != ".zip" else (path.with_suffix(".header")).read_text()
        match = LINE.search(text)
        if match is None:
            raise ValueError(f"{path.name}: no '# corpus:' line")
        fields = dict(item.split("=", 1) for item in match.group(1).split())
        source = re.search(r"^#\s*Modelled on:\s*(\S+)", text, re.M)
        if source is None:
            raise ValueError(f"{path.name}: no '# Modelled on: <address>' line")
        found.append(
            Case(
                path,
                fields["assignment"],
                fields["expect"],
                tuple(c for c in fields.get("cause", "").split("|") if c),
                fields.get("message", "").replace("_", " "),
                source.group(1),
            )
        )
    return found


def run_case(
    case: Case, uid: int | None = None, jobs_root: Path | None = None, spec: Assignment | None = None
) -> Outcome:
    spec = spec or find(case.assignment)
    hidden = datasets.hidden_set(spec, SECRET)
    submission = prepare_submission(case.path.name, case.path.read_bytes())
    report = grade(spec, submission, hidden, [0], uid=uid, jobs_root=jobs_root)
    found = report.diagnoses
    run = report.chosen
    if report.passed and run is not None:
        # A passing run shows hints only: each is judged by what it would have been had the run failed
        # (a hint that calls a trained model untrained misleads as much as an error would).
        public = datasets.public_files(spec)
        values = run.values if not spec.task.classification else None
        evidence = gather(
            spec,
            run.result.training,
            run.metric_value,
            False,
            values,
            public.get("y_val"),
            public.get("x_val"),
        )
        shown = {d.code for d in report.diagnoses}
        found = [d for d in diagnose(evidence) if d.code in shown]
    codes = [d.code for d in found if d.severity in ("error", "warning")]
    return Outcome(case, report, codes)


def run_all(selected: list[Case], uid: int | None = None, jobs_root: Path | None = None) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda case: run_case(case, uid, jobs_root), selected))


def table(outcomes: list[Outcome]) -> str:
    rows = [f"{'file':44} {'assignment':20} {'expect':10} {'judgement':13} verdict / diagnoses"]
    for o in outcomes:
        shown = ", ".join(d.code for d in o.report.diagnoses) or "-"
        if o.case.expect == "pass" and o.codes:
            shown += f" (as if failing: {', '.join(o.codes)})"
        rows.append(
            f"{o.case.name:44} {o.case.assignment:20} {o.case.expect:10} {o.judgement:13} "
            f"{o.report.verdict.value} {o.report.score}: {shown}"
        )
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.judgement] = counts.get(o.judgement, 0) + 1
    failing = [o for o in outcomes if o.case.expect != "pass"]
    named = sum(o.judgement == "named" for o in failing)
    rows.append("")
    rows.append(
        f"{len(outcomes)} scripts: {len(failing)} with a mistake, {len(outcomes) - len(failing)} correct. "
        + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        + (f". Named: {named}/{len(failing)} = {named / len(failing):.0%}." if failing else ".")
    )
    return "\n".join(rows)
