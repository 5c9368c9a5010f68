"""``grader assignments ...``: what instructors run on their specs.

grader assignments list                       the built-in assignments
grader assignments check [PATH ...]           validate specs, run reference and known-wrong solutions
grader assignments publish SLUG --course C    sync a spec into a course as a new version (database)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from grader.config import RunnerConfig
from grader.engine.runner.check import AssignmentCheck, RunnerSettings, SolutionCheck, format_line, load_all
from grader.engine.runner.check import run_checks as run_solution_checks
from grader.engine.spec import SpecError, builtin_slugs, find


def cmd_list(args: argparse.Namespace) -> int:
    for slug in builtin_slugs():
        try:
            spec = find(slug)
            print(f"{slug:<22} {spec.task.type:<11} {spec.grading.metric:<15} {spec.title}")
        except SpecError as exc:
            print(f"{slug:<22} INVALID: {exc}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config = RunnerConfig.from_env()
    checks = load_all(args.paths)
    for check in checks:
        if check.error:
            print(f"SPEC {check.name}: {check.error}", file=sys.stderr)
    settings = RunnerSettings(
        seeds=args.seeds, jobs=args.jobs or max(1, (os.cpu_count() or 2)), threads=config.threads,
        uid=config.sandbox_uid, jobs_root=config.jobs_dir,
    )  # fmt: skip
    lock = threading.Lock()

    def show(check: AssignmentCheck, item: SolutionCheck) -> None:
        if not args.json:
            with lock:
                print(format_line(check, item), flush=True)

    run_solution_checks(checks, settings, show)
    if args.json:
        json.dump([_as_json(c) for c in checks], sys.stdout, indent=2)
        sys.stdout.write("\n")
    bad = [c for c in checks if not c.ok]
    total = sum(len(c.solutions) for c in checks)
    print(
        f"\n{len(checks) - len(bad)} of {len(checks)} assignments as declared ({total} solutions run)"
        + (f"; differing: {', '.join(c.name for c in bad)}" if bad else ""),
        file=sys.stderr,
    )
    return 1 if bad else 0


def _as_json(check: AssignmentCheck) -> dict[str, Any]:
    return {
        "assignment": check.name,
        "ok": check.ok,
        "error": check.error or None,
        "solutions": [
            {
                "file": s.solution.file,
                "expect": s.solution.expect,
                "got": s.got,
                "ok": s.ok,
                "verdict": s.report.verdict.value if s.report else None,
                "score": s.report.score if s.report else None,
                "metric": s.report.metric_value if s.report else None,
                "seed_scores": [r.score for r in s.report.runs] if s.report else [],
                "message": s.report.message if s.report else s.error,
                "seconds": round(s.seconds, 2),
            }
            for s in check.solutions
        ],
    }


def cmd_publish(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from grader.app import create_app
    from grader.assignments.services import publish
    from grader.courses.models import Course
    from grader.extensions import db
    from grader.submissions.reference import reference_run_of

    deadline = None
    if args.deadline:
        try:
            deadline = datetime.fromisoformat(args.deadline)
        except ValueError:
            print(
                f"grader: --deadline {args.deadline!r}: use ISO 8601, e.g. 2026-12-01T23:59Z", file=sys.stderr
            )
            return 2
        if deadline.tzinfo is not None:
            deadline = deadline.astimezone(UTC).replace(tzinfo=None)
    try:
        find(args.assignment)  # a spec error is reported before anything runs
    except SpecError as exc:
        print(f"grader: {exc}; nothing was published", file=sys.stderr)
        return 2
    if not args.no_check:
        config = RunnerConfig.from_env()
        checks = load_all([args.assignment])
        settings = RunnerSettings(
            seeds=args.seeds, jobs=max(1, os.cpu_count() or 2), threads=config.threads,
            uid=config.sandbox_uid, jobs_root=config.jobs_dir,
        )  # fmt: skip
        run_solution_checks(checks, settings)
        for check in checks:
            for item in check.solutions:
                print(format_line(check, item))
        if not all(c.ok for c in checks):
            print(
                "grader: a solution's outcome differs from its spec; nothing was published", file=sys.stderr
            )
            return 1
    app = create_app()
    with app.app_context():
        course = db.session.scalar(select(Course).where(Course.code == args.course))
        if course is None:
            codes = ", ".join(db.session.scalars(select(Course.code).order_by(Course.code))) or "none yet"
            print(f"grader: no course {args.course!r}; courses: {codes}", file=sys.stderr)
            return 2
        before = {a.slug: len(a.versions) for a in course_assignments(course.id)}
        assignment = publish(course, args.assignment, deadline=deadline, daily_limit=args.daily_limit)
        version = assignment.current
        new = version.number != before.get(assignment.slug)
        reference = reference_run_of(version.id) if new else None  # queued by the publication
        print(
            f"{assignment.slug} in {course.code}: version {version.number}"
            + (" (new; its hidden set is drawn from a fresh secret)" if new else " (unchanged)")
            + f"; deadline {assignment.deadline or 'none'}, {assignment.daily_limit} per day"
            + (f"; reference run queued as submission {reference.id}" if reference else "")
        )
    return 0


def course_assignments(course_id: int) -> list[Any]:
    from sqlalchemy import select

    from grader.assignments.models import Assignment
    from grader.extensions import db

    return list(db.session.scalars(select(Assignment).where(Assignment.course_id == course_id)))


def add_commands(commands: Any) -> None:
    group = commands.add_parser("assignments", help="check, list and publish assignment specs")
    sub = group.add_subparsers(dest="assignments_command", required=True)
    sub.add_parser("list", help="list the built-in assignments").set_defaults(handler=cmd_list)
    check = sub.add_parser("check", help="validate specs and run their reference and known-wrong solutions")
    check.add_argument(
        "paths", nargs="*", help="assignment folders or built-in slugs (default: all built-ins)"
    )
    check.add_argument("--seeds", type=int, help="training seeds per solution (default: each spec's own)")
    check.add_argument("--jobs", type=int, help="sandboxes run at once (default: CPU count)")
    check.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    check.set_defaults(handler=cmd_check)
    pub = sub.add_parser("publish", help="publish a spec into a course as a new version")
    pub.add_argument("assignment", help="a built-in slug or an assignment folder")
    pub.add_argument("--course", required=True, help="the course code")
    pub.add_argument("--deadline", help="this course's deadline (ISO 8601, UTC unless a zone is given)")
    pub.add_argument("--daily-limit", type=int, help="submissions per student per day (default: the spec's)")
    pub.add_argument("--no-check", action="store_true", help="publish without running the solutions first")
    pub.add_argument(
        "--seeds", type=int, help="training seeds per solution in the check (default: the spec's)"
    )
    pub.set_defaults(handler=cmd_publish)
