"""The ``grader`` command line.

grader run ASSIGNMENT FILE [--json] [--seed N]   grade locally on the public validation split
grader run ASSIGNMENT FILE --sweep [JSON]        a sweep, locally, one run after another (cli_sweep)
grader data ASSIGNMENT FOLDER                     write the public data sets as .npy files
grader assignments list|check|publish             for instructors (see cli_assignments)
grader lti register-platform|show-config|rotate-key|list|...   LTI 1.3 with an LMS (see grader/lti/cli.py)
grader submit ASSIGNMENT FILE --server URL        submit to a grader server and follow it (see cli_client)
grader tokens create --email E --scopes S         make an API token (on the server)
grader doctor [--only CHECKS]                     check database, broker, workers, sandbox, GPUs, disk
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from grader.cli_assignments import add_commands as add_assignment_commands
from grader.cli_client import add_commands as add_client_commands
from grader.config import ConfigError, RunnerConfig
from grader.engine import datasets
from grader.engine.diagnosis.base import NO_KNOWN_MISTAKE, unexplained
from grader.engine.runner.grade import GradeReport, grade
from grader.engine.runner.submission import SubmissionRejected, prepare_submission
from grader.engine.scoring import metric_label
from grader.engine.spec import SpecError, find
from grader.lti.cli import add_commands as add_lti_commands
from grader.ops.doctor import add_commands as add_doctor_commands
from grader.worker_slot import sandbox_backend


def _progress_printer(stream: Any) -> Any:
    def show(record: dict[str, Any]) -> None:
        loss = record.get("loss")
        loss_text = f"{loss:.4g}" if isinstance(loss, (int, float)) else "-"
        stream.write(f"\r  step {record['step']:>7,}   loss {loss_text:>10}   {record['elapsed']:6.1f} s ")
        stream.flush()

    return show


def curve_summary(report: GradeReport) -> str:
    run = report.chosen
    if run is None or "loss" not in run.result.training.curves:
        return ""
    xs, ys = run.result.training.curves["loss"]
    values = [y for y in ys if isinstance(y, (int, float)) and math.isfinite(y)]
    if not values:
        return "loss: no finite values (training diverged)"
    picks = [0, len(ys) // 4, len(ys) // 2, 3 * len(ys) // 4, len(ys) - 1]
    parts = [f"step {xs[i]:,}: {ys[i]:.3g}" for i in picks if ys[i] is not None]
    return "loss  " + "  ->  ".join(parts) + f"   (min {min(values):.3g})"


def print_report(report: GradeReport, out: Any) -> None:
    summary = report.summary()
    out.write(f"\n{summary['title']}")
    if report.score is not None:
        out.write(
            f": {report.score:g}/{report.max_score:g}  ({metric_label(report.metric_name)} {report.metric_value:.4g})"
        )
    out.write("  PASSED\n" if report.passed else "\n")
    if report.message and report.score is None:
        out.write(report.message + "\n")
    traceback = summary["details"].get("traceback")
    if traceback:
        out.write(traceback + "\n")
    line = curve_summary(report)
    if line:
        out.write(line + "\n")
    for warning in summary["warnings"]:
        where = Path(warning["file"]).name
        out.write(
            f"warning: {where}:{warning['line']}: {warning['category']}: {warning['message'].splitlines()[0]}\n"
        )
    for note in report.notes:
        out.write(f"note: {note}\n")
    if unexplained(report.verdict.value, report.passed, [d.severity for d in report.diagnoses]):
        out.write(f"\n{NO_KNOWN_MISTAKE}\n")
    for d in report.diagnoses:
        place = f" ({d.where})" if d.where else ""
        out.write(f"\n{d.severity}: {d.title}{place}\n  seen: {d.seen}\n  why:  {d.why}\n  fix:  {d.fix}\n")


def cmd_run(args: argparse.Namespace) -> int:
    config = RunnerConfig.from_env()
    assignment = find(args.assignment)
    path = Path(args.file)
    content = path.read_bytes()
    submission = prepare_submission(path.name, content)
    if args.sweep is not None:
        from grader.cli_sweep import run_sweep

        return run_sweep(args, assignment, submission, content)
    evaluation = datasets.public_split(assignment, "validation")
    progress = None if args.json else _progress_printer(sys.stderr)
    if not args.json:
        sys.stderr.write(f"Grading {path.name} for {assignment.slug} on the public validation split...\n")
    started = time.monotonic()
    report = grade(
        assignment, submission, evaluation, [args.seed], threads=config.threads, uid=config.sandbox_uid,
        jobs_root=config.jobs_dir, on_progress=progress, backend=sandbox_backend(config),
    )  # fmt: skip
    if args.json:
        summary = report.summary()
        summary["seconds"] = round(time.monotonic() - started, 2)
        json.dump(summary, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_report(report, sys.stdout)
    return 0 if report.verdict.value == "scored" else 1


def cmd_data(args: argparse.Namespace) -> int:
    assignment = find(args.assignment)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in datasets.public_files(assignment).items():
        np.save(folder / f"{name}.npy", array, allow_pickle=False)
    print(f"export GRADEKIT_DATA={folder.resolve()}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from grader.serve import serve

    return serve(port=args.port, demo=args.demo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader", description="Autograding for neural-network training.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="grade a submission locally on the public validation split")
    run.add_argument("assignment", help="a built-in assignment's slug or an assignment folder")
    run.add_argument("file", help="a .py, .ipynb or .zip submission")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    run.add_argument(
        "--sweep", nargs="?", const="", default=None, metavar="JSON",
        help="train a sweep, one run after another: JSON, or none to use SWEEP = {...} in the file",
    )  # fmt: skip
    run.set_defaults(handler=cmd_run)
    data = commands.add_parser("data", help="write an assignment's public data sets as .npy files")
    data.add_argument("assignment")
    data.add_argument("folder")
    data.set_defaults(handler=cmd_data)
    add_assignment_commands(commands)
    add_lti_commands(commands)
    add_client_commands(commands)
    add_doctor_commands(commands)
    serve = commands.add_parser("serve", help="run web, worker and beat together")
    serve.add_argument("--demo", action="store_true", help="create demo users, course and graded examples")
    serve.add_argument("--port", type=int, default=5000)
    serve.set_defaults(handler=cmd_serve)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (SpecError, SubmissionRejected, ConfigError, FileNotFoundError) as exc:
        print(f"grader: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
