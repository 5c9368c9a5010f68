"""``python -m tests.corpus [NAME ...]``: run the corpus (or the named files) and print the table."""

from __future__ import annotations

import sys

from grader.config import RunnerConfig

from . import cases, run_all, table


def main() -> int:
    wanted = set(sys.argv[1:])
    selected = [c for c in cases() if not wanted or c.name in wanted or c.path.stem in wanted]
    config = RunnerConfig.from_env()
    outcomes = run_all(selected, config.sandbox_uid, config.jobs_dir)
    print(table(outcomes))
    if "-v" in sys.argv or len(selected) <= 3:
        for o in outcomes:
            print(f"\n== {o.case.name}: {o.report.verdict.value} {o.report.message}")
            for d in o.report.diagnoses:
                print(f"  {d.severity}: {d.code}: {d.seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
