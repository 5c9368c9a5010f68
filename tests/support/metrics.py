"""Reading /metrics as Prometheus does: the token the tests configure, and the scraped samples."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

METRICS_TOKEN = "metrics-token-for-the-tests-0123456789"  # GRADER_METRICS_TOKEN wants 24 characters
# Each sample by its name and labels (sorted): ("grader_submissions", (("state", "queued"),)) -> 3.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Any) -> Samples:
    """GET /metrics with the token (which must be configured) and parse the exposition."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample of that name with exactly these labels (KeyError when the scrape had none)."""
    return samples[(name, tuple(sorted(labels.items())))]
