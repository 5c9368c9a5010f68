"""Operations: Prometheus metrics (metrics, queues), JSON logs (logs) and ``grader doctor``."""
