"""The deadline's worst minute: students upload a paraboloid solution and watch it being graded.

Starts the real stack on loopback: a throwaway database on the local PostgreSQL, a private
redis-server (no persistence), gunicorn as ``grader serve`` runs it (grader/gunicorn_conf.py: 2
gevent processes; ``--server gthread`` runs the 2 x 8 threads of before, to compare), two grading
slots as two separate Celery nodes (solo pool, one process each, as on two hosts), and the
maintenance node with beat (the reconciler). Then, measured side by side in one run:

1. **one run's cost**: ``--solo`` submissions graded one at a time (after one unmeasured); the
   CPU-seconds the whole machine spent per run above its idle baseline (all processes, from
   /proc/stat: the upload, the claim, the sandbox's start and torch import, training, scoring,
   storing), the CPU-seconds of the run inside its sandbox, and the wall time upload -> score;
2. **the burst**: ``--students`` uploads spread evenly over ``--seconds`` (one per student,
   ``--concurrency`` client threads on loopback), each timed; each student then keeps the status
   page's event stream open until graded (benchmarks/burst_watchers.py: reconnecting at the
   stream's cap, polling on a 204), and two students keep opening the assignment page and a result
   page, each view timed;
3. **the drain**: until every submission is final and every watcher has seen it.

Prints upload and page-view latency (targets: p99 <= 300 ms, no errors), what the watchers saw
(streams, reconnects, fallbacks to polling, drops: target 0 drops), the time from upload to score,
whether every submission was graded exactly once, and the throughput against the ideal: two slots x
60 s / CPU-seconds of one run, with a run's CPU-seconds taken all in, and (stricter) as the sandbox's
alone: on six solo runs, on the burst's own runs, and (the target, >= 90%) on the burst's own runs
with the CPU the grader had: two cores less what this shared machine's other tenants take when the
grader idles (measured before the solo runs) and what the benchmark's clients took during the burst.
Every part the grader runs (web, slots, PostgreSQL, Redis, the refills, the kernel's work for them)
stays charged to it.

    .venv/bin/python benchmarks/deadline_burst.py [--students 300] [--seconds 60] [--epochs 1000]
    .venv/bin/python benchmarks/deadline_burst.py --smoke   # a few students: that it all still runs

The spec is paraboloid trained once (``seeds = 1``) and the solution the reference trained for
``--epochs`` epochs (1,000: about a second of training here; it still scores).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from burst_stack import (
    ADMIN_URL,
    PARABOLOID,
    Stack,
    busy_cpu_seconds,
    celery,
    cpu_by_part,
    free_port,
    graded_once,
    percentile,
    post,
    process_cpu,
    sandbox_cpu_seconds,
    sandboxes_cpu_seconds,
    seed,
    session_cookie,
    slot_use,
    stack_cpu_seconds,
    timings,
    wait_final,
    wait_for_port,
    web_server,
)
from burst_watchers import PageViews, Watchers

from grader.app import create_app

QUIET_CORES = 0.05  # what the machine's other tenants may take at idle for the throughput to be judged


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=16, help="client threads sending the uploads")
    parser.add_argument("--solo", type=int, default=6, help="runs graded one at a time to measure one run")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--server", choices=("gevent", "gthread"), default="gevent")
    parser.add_argument(
        "--no-watchers", dest="watchers", action="store_false", help="uploads only (as before)"
    )
    parser.add_argument("--smoke", action="store_true", help="6 students in 6 s, 2 solo runs: that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.students, args.seconds, args.solo, args.epochs = 6, 6.0, 2, 300
    return args


def print_cpu_split(before: Any, after: Any, runs_cpu: float, graded: int) -> None:
    """Where the machine's CPU went from the burst's first upload to the last result, per graded run."""
    machine = after[0] - before[0]
    rows = [("sandboxes: the runs themselves (their own measure)", runs_cpu)]
    if before[1] is not None and after[1] is not None:
        rows.append(
            (
                "sandboxes: start, torch import, exit (the warm pool's refills)",
                after[1] - before[1] - runs_cpu,
            )
        )
    rows += sorted(cpu_by_part(before[2], after[2]).items())
    rows.append(
        ("the rest (kernel threads, short-lived processes, other tenants)", machine - sum(v for _, v in rows))
    )
    print(
        f"  CPU from the first upload to the last result: {machine:.0f} CPU-s, {machine / graded:.2f} per graded run"
    )
    for name, seconds in rows:
        print(f"    {name:<66} {seconds / graded:6.2f} CPU-s/run  {seconds / machine:6.1%}")


def main() -> int:
    args = arguments()
    workdir = Path(tempfile.mkdtemp(prefix="grader-burst-"))
    spec_folder = workdir / "paraboloid"
    shutil.copytree(PARABOLOID, spec_folder)
    spec = spec_folder / "assignment.toml"
    spec.write_text(spec.read_text().replace("seeds = 3", "seeds = 1"))
    solution = (
        (PARABOLOID / "reference.py")
        .read_bytes()
        .replace(b"epoch_max = 2500", f"epoch_max = {args.epochs}".encode())
    )

    name = f"grader_burst_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    redis_port, web_port = free_port(), free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    settings = {
        "GRADER_ENV": "production",
        "GRADER_SECRET_KEY": secrets.token_hex(32),
        "GRADER_PUBLIC_URL": "https://grader.example.edu",
        "GRADER_DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + "/" + name,
        "GRADER_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "GRADER_STORAGE_DIR": str(workdir / "storage"),
        "GRADER_REFERENCE_RUNS": "0",  # the burst is the students' runs alone, as its baseline
    }
    stack = Stack(settings, workdir)
    try:
        wait_for_port(redis_port)
        app = create_app(settings)
        assignment_id, students = seed(app, spec_folder, args.students + args.solo + 1)
        stack.start("web", web_server(args.server, web_port))
        for n in (1, 2):
            stack.start(f"slot{n}", celery("-Q", "cpu", "--pool", "solo", "-c", "1", "-n", f"slot{n}@%h"))
        stack.start("maintenance", celery("--beat", "--schedule", str(workdir / "beat"), "-Q", "maintenance",
                                          "--pool", "solo", "-c", "1", "-n", "maintenance@%h"))  # fmt: skip
        wait_for_port(web_port)
        time.sleep(8)  # the nodes connect and their warm sandboxes import torch

        # 1. One run's cost: graded one at a time (the other slot idle).
        solo_ids, solo_wall = [], []
        # The machine's idle baseline first (PostgreSQL, Redis, the idle processes, whatever else
        # runs on this shared machine), subtracted from what the solo runs cost.
        # Of it, what is not the grader's (the kernel's own upkeep, the other services and agents of
        # this shared machine): the CPU the grader never had, left out of the burst's ideal below.
        baseline_start, baseline_cpu = time.monotonic(), busy_cpu_seconds()
        stack_before = stack_cpu_seconds(stack.sessions, redis_server.pid)
        time.sleep(2 if args.smoke else 10)
        baseline_seconds = time.monotonic() - baseline_start
        baseline_rate = (busy_cpu_seconds() - baseline_cpu) / baseline_seconds
        others_rate = max(
            0.0,
            baseline_rate
            - (stack_cpu_seconds(stack.sessions, redis_server.pid) - stack_before) / baseline_seconds,
        )

        def solo(token: str) -> None:
            status, _, payload = post(web_port, assignment_id, token, solution)
            assert status == 202, payload
            started = time.monotonic()
            solo_ids.append(int(json.loads(payload)["id"]))
            wait_final(app, solo_ids[-1:], timeout=300)
            solo_wall.append(time.monotonic() - started)

        solo(students[0][1])  # not measured: the first run of a process pays for its imports and caches
        first_id = solo_ids[0]
        solo_ids.clear()
        solo_wall.clear()
        solo_start, machine_before = time.monotonic(), busy_cpu_seconds()
        for _, token in students[1 : 1 + args.solo]:
            solo(token)
        solo_seconds = time.monotonic() - solo_start
        # All in: the upload, the claim, the sandbox's start and torch import, training, scoring,
        # storing the result; whatever the whole machine did beyond its idle baseline.
        cpu_per_run = (busy_cpu_seconds() - machine_before - baseline_rate * solo_seconds) / args.solo
        sandbox_cpu = sandbox_cpu_seconds(app, solo_ids)
        time.sleep(3)  # the warm sandboxes refill before the burst

        # 2. The burst: one upload per student, evenly over the window; each then watches.
        burst = students[1 + args.solo :]
        gap = args.seconds / len(burst)
        outcomes: list[tuple[int, float, Any]] = [None] * len(burst)  # type: ignore[list-item]
        watchers = Watchers(web_port, seconds=3600)
        viewer_cookie = session_cookie(app, students[0][0])
        views = PageViews(web_port, [(f"/assignments/{assignment_id}", viewer_cookie),
                                     (f"/submissions/{first_id}/result", viewer_cookie)], per_second=4)  # fmt: skip
        t0 = time.monotonic() + 0.5

        def send(index: int) -> None:
            delay = t0 + index * gap - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            user_id, token = burst[index]
            outcomes[index] = post(web_port, assignment_id, token, solution)
            status, _, payload = outcomes[index]
            if status == 202 and args.watchers:
                watchers.open(int(json.loads(payload)["id"]), session_cookie(app, user_id))

        views.start()
        cpu_before = (
            busy_cpu_seconds(),
            sandboxes_cpu_seconds(),
            process_cpu(stack.sessions, redis_server.pid),
        )
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(send, range(len(burst))))
        sent_in = time.monotonic() - t0
        errors = [(status, payload[:200]) for status, _, payload in outcomes if status != 202]
        ids = [int(json.loads(payload)["id"]) for status, _, payload in outcomes if status == 202]
        upload_ms = [seconds * 1000 for _, seconds, _ in outcomes]

        # 3. The drain.
        wait_final(app, ids, timeout=3600)
        cpu_after = (
            busy_cpu_seconds(),
            sandboxes_cpu_seconds(),
            process_cpu(stack.sessions, redis_server.pid),
        )
        views.stop()
        watched = watchers.join() if args.watchers else []
        runs_cpu = sandbox_cpu_seconds(app, ids, total=True)
        once, verdicts = graded_once(app, ids)
        to_score, first_claim, last_result = timings(app, ids)
        window = last_result - first_claim
        per_minute = len(ids) / window * 60
        ideal = 2 * 60 / cpu_per_run
        strict_ideal = 2 * 60 / sandbox_cpu
        # The same runs' own sandbox CPU, measured in the burst: no noise from six solo runs (on a
        # shared machine their median moved by 20% between two runs), and contention that slows the
        # runs themselves is not charged to the grader.
        own_ideal = 2 * 60 / (runs_cpu / len(ids))
        # The same, on the CPU the grader had: two cores for the window, less what the machine's other
        # tenants take when the grader idles and what this benchmark's clients (the students' browsers
        # and uploads, on their own machines in real life) took during it.
        clients_cpu = cpu_by_part(cpu_before[2], cpu_after[2]).get("clients", 0.0)
        grader_cores = 2 - others_rate - clients_cpu / window
        fair_ideal = grader_cores * 60 / (runs_cpu / len(ids))
        busy_share, pause = slot_use(app, ids)
    finally:
        stack.stop()
        redis_server.terminate()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    page_ms = views.timings or [0.0]
    drops = [(w.submission_id, d) for w in watched for d in w.drops]
    unseen = [w.submission_id for w in watched if w.final_at is None]
    print(f"\nDeadline burst: {len(burst)} students in {sent_in:.1f} s through gunicorn ({args.server}), "
          f"2 grading slots (2 Celery nodes), {os.cpu_count()} cores")  # fmt: skip
    print(f"  uploads:   p50 {percentile(upload_ms, 50):.0f} ms  p95 {percentile(upload_ms, 95):.0f} ms  "
          f"p99 {percentile(upload_ms, 99):.0f} ms  max {max(upload_ms):.0f} ms   (target p99 <= 300 ms)")  # fmt: skip
    print(f"  errors:    {len(errors)} {errors[:3] if errors else ''}")
    print(f"  page views during the burst: {len(views.timings)}, p50 {percentile(page_ms, 50):.0f} ms  "
          f"p99 {percentile(page_ms, 99):.0f} ms  max {max(page_ms):.0f} ms, errors {len(views.errors)} "
          f"{views.errors[:3]}   (target p99 <= 300 ms)")  # fmt: skip
    if args.watchers:
        print(f"  watchers:  {len(watched)}; streams opened {sum(w.streams for w in watched)}, reconnects at the "
              f"cap {sum(w.reconnects for w in watched)}, fell back to polling {sum(w.fell_back for w in watched)} "
              f"({sum(w.polls for w in watched)} polls), dropped {len(drops)} {drops[:3]}, never saw the end "
              f"{len(unseen)}")  # fmt: skip
    print(f"  graded:    {len(ids)} final, each exactly once: {once}; verdicts {verdicts}")
    print(f"  upload -> score: p50 {percentile(to_score, 50):.1f} s  p95 {percentile(to_score, 95):.1f} s  "
          f"max {max(to_score):.1f} s")  # fmt: skip
    print(f"  one run alone: {statistics.median(solo_wall):.2f} s upload -> score (median of {args.solo}); "
          f"{cpu_per_run:.2f} CPU-s all in (whole machine above its idle {baseline_rate:.2f} CPU-s/s), "
          f"{sandbox_cpu:.2f} CPU-s in its sandbox")  # fmt: skip
    print(f"  throughput: {per_minute:.1f} graded/min over {window:.0f} s; ideal 2 x 60 / {cpu_per_run:.2f} = "
          f"{ideal:.1f}/min; ratio {per_minute / ideal:.1%}")  # fmt: skip
    print(f"              against the sandbox's CPU alone (2 x 60 / {sandbox_cpu:.2f} = {strict_ideal:.1f}/min): "
          f"{per_minute / strict_ideal:.1%}; slots busy {busy_share:.1%} of the drain, median "
          f"pause between runs {pause * 1000:.0f} ms")  # fmt: skip
    print(f"              against the same runs' sandbox CPU in the burst (2 x 60 / {runs_cpu / len(ids):.2f} = "
          f"{own_ideal:.1f}/min): {per_minute / own_ideal:.1%}")  # fmt: skip
    print(f"              the same on the CPU the grader had ({grader_cores:.3f} cores: 2 less the machine's other "
          f"tenants {others_rate:.3f} and the clients {clients_cpu / window:.3f}; {fair_ideal:.1f}/min): "
          f"{per_minute / fair_ideal:.1%} (target >= 90%)")  # fmt: skip
    print_cpu_split(cpu_before, cpu_after, runs_cpu, len(ids))
    targets = [
        ("upload p99 <= 300 ms", percentile(upload_ms, 99) <= 300),
        ("page view p99 <= 300 ms", percentile(page_ms, 99) <= 300 and not views.errors),
        ("no errors", not errors),
        ("no stream dropped without a fallback", not drops and not unseen),
        ("each graded exactly once", once),
        ("throughput >= 90% of the sandbox's ideal on the grader's CPU", per_minute / fair_ideal >= 0.90),
        # A busy machine before the burst (another benchmark, a test run) would inflate the others' share.
        (
            f"a quiet machine before the burst (others {others_rate:.3f} <= {QUIET_CORES} cores)",
            others_rate <= QUIET_CORES,
        ),
    ]
    missed = [what for what, ok in targets if not ok]
    print(f"  targets: {'all met' if not missed else 'MISSED: ' + '; '.join(missed)}")
    if args.smoke:
        return 0 if once and not errors and not drops and not unseen else 1  # sizes too small to time
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
