"""The worker's side of grading: taking the next submission fairly, its attempts and their results,
where each waiting submission stands in the queue, and the Celery tasks."""
