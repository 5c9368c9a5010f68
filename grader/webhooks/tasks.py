"""Celery tasks for webhooks: thin, they take ids and call the service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="grader.deliver_webhook")  # type: ignore[untyped-decorator]
def deliver_webhook(delivery_id: int) -> str:
    return services.deliver(delivery_id)


@shared_task(name="grader.webhooks_sweep")  # type: ignore[untyped-decorator]
def sweep_webhooks() -> dict[str, int]:
    return services.sweep()
