"""Prometheus metrics at ``/metrics``, computed from the database and the broker at each scrape.

Web, workers and beat are separate processes (and gunicorn runs several web workers), so counters
kept in one process's memory would each see a slice. Everything here is read from the shared truth
instead, when Prometheus scrapes: any web process gives the same answer, nothing is lost when a
process restarts, and no multiprocess mode is needed. The price is a few cheap queries per scrape
(GROUP BY on indexed state columns, and the gradings finished in the last window).

``/metrics`` is off (404) unless ``GRADER_METRICS_TOKEN`` is set, and then asks for that token as
a bearer token (401 otherwise): the counts say how busy the course is, which is nobody's business
outside the operators.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from grader.config import ServiceConfig
from grader.engine.verdicts import Verdict
from grader.extensions import db, utcnow
from grader.lti.models import LtiGradePassback, PassbackState
from grader.submissions.models import Result, State, Submission
from grader.webhooks.models import WebhookDelivery

from .queues import BrokerUnavailable, queues_in_use, read_queue_depths

log = logging.getLogger(__name__)
blueprint = Blueprint("metrics", __name__)

WINDOW = timedelta(minutes=15)  # the latency histograms cover gradings finished this recently
# A submission uploaded more than this before it finished is a regrade (its upload is old): left
# out of the latency, which would otherwise read a regrade-all as a day-long wait.
REGRADE_CUTOFF = timedelta(days=1)
OVERDUE = timedelta(minutes=5)  # a pending outbound call due this long ago: its sweep is not running
LATENCY_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600, 7200)
RUN_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900)
VERDICTS = tuple(v.value for v in Verdict)
WEBHOOK_STATES = ("pending", "delivered", "failed")


@blueprint.get("/metrics")
def metrics() -> Response:
    config: ServiceConfig = current_app.extensions["grader.config"]
    if not config.metrics_token:
        abort(404)  # off: indistinguishable from a grader without metrics
    expected = f"Bearer {config.metrics_token}".encode()
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
        return Response(
            "A bearer token (GRADER_METRICS_TOKEN) is needed.\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GraderCollector(config.broker_url))
    response = Response(generate_latest(registry), 200)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


class GraderCollector(Collector):
    """One scrape: the database's metrics, then the broker's; a source that fails is reported as down."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        # The GPU kinds' queues (gpu-<kind>) with work, found by the database source and then read
        # from the broker too; left empty when the database is down: the fixed queues still show.
        self.queues_in_use: tuple[str, ...] = ()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "grader_metrics_source_up",
            "1 when the source answered this scrape; 0 when it failed (its metrics are missing)",
            labels=["source"],
        )
        spent = GaugeMetricFamily(
            "grader_metrics_scrape_seconds", "Time this scrape spent reading the source", labels=["source"]
        )
        # The database first: it names the queues in use that the broker is then asked about.
        sources = (("database", self._database), ("broker", self._broker))
        for name, read in sources:
            started = time.monotonic()
            families: list[Metric] = []
            try:
                families = list(read())  # all or nothing: no half a source's metrics
            except (sa.exc.SQLAlchemyError, BrokerUnavailable) as exc:
                db.session.rollback()
                log.warning("metrics: %s unavailable: %s", name, str(exc).splitlines()[0])
            else:
                yield from families
            spent.add_metric([name], round(time.monotonic() - started, 6))
            up.add_metric([name], 1 if families else 0)
        yield up
        yield spent

    # -- the database -------------------------------------------------------------------------
    def _database(self) -> Iterable[Metric]:
        now = utcnow()
        try:
            self.queues_in_use = queues_in_use(db.session)
            yield from self._submissions(now)
            yield from self._latencies(now)
            yield from self._verdicts()
            yield from self._outbound(now)
        finally:
            db.session.rollback()  # read only: end the transaction the queries opened

    def _submissions(self, now: datetime) -> Iterator[Metric]:
        yield _count_by(
            Submission.state, "grader_submissions", "Submissions in each state, now (all time)", "state",
            [state.value for state in State],
        )  # fmt: skip
        running = sa.select(sa.func.count()).where(Submission.state == State.RUNNING)
        held = db.session.scalar(running.where(Submission.lease_expires_at >= now)) or 0
        expired = db.session.scalar(running.where(Submission.lease_expires_at < now)) or 0
        yield GaugeMetricFamily(
            "grader_runs_in_progress", "Gradings running now with their lease held by a worker", value=held
        )
        yield GaugeMetricFamily(
            "grader_runs_lease_expired",
            "Gradings whose worker stopped renewing the lease; the reconciler (beat, every 30 s) requeues "
            "them, so a value that stays above 0 means beat is not running",
            value=expired,
        )
        oldest = db.session.scalar(
            sa.select(sa.func.min(Submission.created_at)).where(
                Submission.state.in_([State.RECEIVED, State.QUEUED])
            )
        )
        yield GaugeMetricFamily(
            "grader_oldest_waiting_seconds",
            "Age since upload of the oldest submission no worker has claimed yet (0 when none waits; "
            "a regrade counts from its upload)",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )

    def _latencies(self, now: datetime) -> Iterator[Metric]:
        # The index on (state, updated_at) finds the gradings that finished in the window: finish()
        # sets updated_at when it writes the final state.
        rows = db.session.execute(
            sa.select(Submission.created_at, Submission.updated_at, Result.wall_seconds, Result.verdict)
            .outerjoin(Result, Result.submission_id == Submission.id)
            .where(
                Submission.state.in_([State.SCORED, State.FAILED, State.ERROR]),
                Submission.updated_at >= now - WINDOW,
                Submission.created_at >= now - REGRADE_CUTOFF,
            )
        ).all()
        window = f"gradings finished in the last {int(WINDOW.total_seconds() // 60)} minutes"
        latency = [max(0.0, (finished - uploaded).total_seconds()) for uploaded, finished, _, _ in rows]
        yield _gauge_histogram(
            "grader_grading_latency_seconds",
            f"Time from upload to the final state (scored, failed or error), over the {window} "
            "(a gauge histogram: use histogram_quantile on its buckets directly, without rate)",
            latency,
            LATENCY_BUCKETS,
        )
        runs = [float(wall) for _, _, wall, _ in rows if wall is not None]
        yield _gauge_histogram(
            "grader_run_seconds",
            f"Wall time of the sandbox run a result comes from, over the {window}",
            runs,
            RUN_BUCKETS,
        )
        recent = GaugeMetricFamily("grader_recent_verdicts", f"Verdicts of the {window}", labels=["verdict"])
        for verdict in _with_known(VERDICTS, (v for _, _, _, v in rows if v is not None)):
            recent.add_metric([verdict], sum(1 for _, _, _, v in rows if v == verdict))
        yield recent

    def _verdicts(self) -> Iterator[Metric]:
        yield _count_by(
            Result.verdict,
            "grader_results",
            "Results by verdict, now (all time; a regrade replaces its submission's result, so this is "
            "a gauge: use delta, not rate)",
            "verdict",
            VERDICTS,
        )

    def _outbound(self, now: datetime) -> Iterator[Metric]:
        yield _count_by(
            WebhookDelivery.state,
            "grader_webhook_deliveries",
            "Webhook deliveries by state (pending: to send or retry; failed: gave up after the retries)",
            "state",
            WEBHOOK_STATES,
        )
        yield _count_by(
            LtiGradePassback.state,
            "grader_lti_passbacks",
            "LTI grade passbacks by state (pending: to send or retry; failed: gave up or refused)",
            "state",
            [state.value for state in PassbackState],
        )
        overdue = GaugeMetricFamily(
            "grader_outbound_overdue",
            f"Pending outbound calls due more than {int(OVERDUE.total_seconds() // 60)} minutes ago: the "
            "outbound worker or beat (which schedules the retry sweeps) is not running",
            labels=["kind"],
        )
        since = now - OVERDUE
        overdue.add_metric(
            ["webhook"],
            db.session.scalar(
                sa.select(sa.func.count()).where(
                    WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at < since
                )
            )
            or 0,
        )
        overdue.add_metric(
            ["lti"],
            db.session.scalar(
                sa.select(sa.func.count()).where(
                    LtiGradePassback.state == PassbackState.PENDING, LtiGradePassback.next_attempt_at < since
                )
            )
            or 0,
        )
        yield overdue

    # -- the broker ---------------------------------------------------------------------------
    def _broker(self) -> Iterable[Metric]:
        depths = read_queue_depths(self.broker_url, extra=self.queues_in_use)

        def per_queue(name: str, documentation: str, counts: dict[str, int]) -> Metric:
            family = GaugeMetricFamily(name, documentation, labels=["queue", "transport"])
            for queue, count in counts.items():
                family.add_metric([queue, depths.transport], count)
            return family

        families = [
            per_queue(
                "grader_queue_messages",
                "Messages waiting in each Celery queue for a worker, read from the broker",
                depths.waiting,
            )
        ]
        if depths.unacked is not None:
            families.append(
                per_queue(
                    "grader_queue_unacked",
                    "Messages a worker has taken and not acknowledged yet (acks late: its task is running)",
                    depths.unacked,
                )
            )
        return families


def _count_by(column: Any, name: str, documentation: str, label: str, known: Sequence[str]) -> Metric:
    """A gauge of the rows counted by ``column``'s value: every known value present (0 when none)."""
    rows = db.session.execute(sa.select(column, sa.func.count()).group_by(column)).all()
    counts = {str(getattr(value, "value", value)): int(n) for value, n in rows}
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value in _with_known(known, counts):
        family.add_metric([value], counts.get(value, 0))
    return family


def _with_known(known: Sequence[str], seen: Iterable[str]) -> list[str]:
    """The known label values (so each series exists from the start, at 0), then any others seen."""
    return [*known, *sorted({str(v) for v in seen} - set(known))]


def _gauge_histogram(name: str, documentation: str, values: list[float], bounds: Sequence[float]) -> Metric:
    buckets = [(str(float(b)), float(sum(1 for v in values if v <= b))) for b in bounds]
    buckets.append(("+Inf", float(len(values))))
    return GaugeHistogramMetricFamily(name, documentation, buckets=buckets, gsum_value=float(sum(values)))
