"""Celery, configured for jobs of minutes, attached to the Flask app (the Flask docs' pattern).

acks_late + reject_on_worker_lost + prefetch 1: a message is acknowledged only
after its task ran, and one worker slot holds one message at a time. The
visibility timeout is well above the longest run, so Redis does not hand a
running job to a second worker. No ETA or countdown tasks anywhere. The
database, not the broker, is the source of truth: the reconciler re-publishes
whatever the broker lost.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_shutdown, worker_shutdown
from flask import Flask
from kombu import Queue

from grader import worker_slot

RECONCILE_SECONDS = 30.0
WEBHOOK_SWEEP_SECONDS = 15.0
MAINTENANCE_QUEUE = "maintenance"
# Calls out to other servers (webhooks, LMSs): their own queue and workers, the only ones with a
# route out of the backend network, so a slow endpoint never holds up the reconciler or a grading.
OUTBOUND_QUEUE = "outbound"
LTI_SWEEP_SECONDS = 60.0  # LTI passback retries and expired login states and nonces


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    config = app.extensions["grader.config"]
    visibility = 2 * config.max_run_seconds + 300
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=config.broker_url,
        broker_connection_retry_on_startup=True,
        # kombu's SQLAlchemy transport (the embedded default) hands these to create_engine, so
        # only Redis gets them; the embedded broker polls once a second.
        broker_transport_options=(
            {"visibility_timeout": visibility, "polling_interval": 0.5}
            if config.broker_url.startswith("redis")
            else {}
        ),
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue("cpu"), Queue("gpu"), Queue(MAINTENANCE_QUEUE), Queue(OUTBOUND_QUEUE)],
        task_default_queue="cpu",
        # The reconciler has its own queue, consumed by the beat process (a worker with beat embedded,
        # one per stack), so it runs on time even while every grading slot is busy for minutes.
        task_routes={
            "grader.reconcile": {"queue": MAINTENANCE_QUEUE},
            "grader.settle_sweeps": {"queue": MAINTENANCE_QUEUE},
            "grader.deliver_webhook": {"queue": OUTBOUND_QUEUE},
            "grader.webhooks_sweep": {"queue": OUTBOUND_QUEUE},
            # LTI calls to LMSs (passbacks, rosters, their sweep): short HTTP calls, never behind gradings.
            "grader.lti.*": {"queue": OUTBOUND_QUEUE},
        },
        beat_schedule={
            "reconcile": {"task": "grader.reconcile", "schedule": RECONCILE_SECONDS},
            "sweeps": {"task": "grader.settle_sweeps", "schedule": RECONCILE_SECONDS},
            # Webhook retries are due rows, not ETA tasks: the sweep sends whatever has come due.
            "webhooks": {"task": "grader.webhooks_sweep", "schedule": WEBHOOK_SWEEP_SECONDS},
            "lti-sweep": {"task": "grader.lti.sweep", "schedule": LTI_SWEEP_SECONDS},
            # Members who joined or left the LMS course, before they launch (or after they left).
            "lti-rosters": {"task": "grader.lti.roster_all", "schedule": config.lti_roster_hours * 3600.0},
        },
        worker_hijack_root_logger=False,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    # A worker that stops removes its warm sandboxes (containers outlive a process that just exits);
    # one killed outright leaves them to the next worker's sweep (grader/engine/sandbox/container.py).
    worker_process_shutdown.connect(worker_slot.release, weak=False)
    worker_shutdown.connect(worker_slot.release, weak=False)
    from grader.assignments import tasks as assignment_tasks  # noqa: F401 - the drafts' check
    from grader.lti import tasks as lti_tasks  # noqa: F401 - passbacks, rosters, the LTI sweep
    from grader.similarity import tasks as similarity_tasks  # noqa: F401 - a class's similarity checks
    from grader.sweeps import tasks as sweep_tasks  # noqa: F401 - settling sweeps a worker left
    from grader.webhooks import tasks as webhook_tasks  # noqa: F401 - deliveries and their sweep
    from grader.workers import tasks  # noqa: F401 - registers the tasks on this app

    return celery
