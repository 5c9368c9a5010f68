"""Structured logs: JSON lines carrying the submission id, from the grading path and from a real
Celery worker started with GRADER_LOG_FORMAT=json."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.databases import temporary_database
from support.stack import Stack
from support.uploads import submit

from grader.config import ConfigError, ServiceConfig
from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.ops.logs import JsonFormatter, configure_logging
from grader.workers import grading


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the grader's loggers write, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("grader")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # The session's `flask db upgrade` ran grader/migrations/env.py's fileConfig, which disables every logger
    # that existed then (a worker process never migrates, so its loggers stay on).
    silenced = [
        each
        for name, each in logging.root.manager.loggerDict.items()
        if name.startswith("grader") and isinstance(each, logging.Logger) and each.disabled
    ]
    for each in silenced:
        each.disabled = False
    yield stream
    for each in silenced:
        each.disabled = True
    logger.removeHandler(handler)
    logger.setLevel(level)


def parse(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_line_is_one_json_object_with_the_extras():
    record = logging.LogRecord("grader.x", logging.WARNING, __file__, 1, "lost %s", ("lease",), None)
    record.submission_id, record.attempt = 7, 2
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "grader.x" and line["message"] == "lost lease"
    assert line["submission_id"] == 7 and line["attempt"] == 2 and line["time"].endswith("+00:00")
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            "g", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info()
        )
    text = JsonFormatter().format(record)
    assert "\n" not in text and "ValueError: bad" in json.loads(text)["exception"]


def test_claim_heartbeat_and_finish_log_the_submission(client, paraboloid, student_token, json_lines):
    submission = submit(client, paraboloid, student_token)
    attempt = grading.claim(submission.id, "host:1")
    assert attempt == 1 and grading.claim(submission.id, "host:2") is None
    report = GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", 0.001, 100.0, 100.0, True)
    assert grading.finish(submission.id, attempt, report)
    assert not grading.heartbeat(submission.id, attempt)  # finished: the lease is gone
    lines = [line for line in parse(json_lines.getvalue()) if line.get("submission_id") == submission.id]
    claimed = next(line for line in lines if line["event"] == "claimed")
    assert claimed["attempt"] == 1 and claimed["worker"] == "host:1" and claimed["level"] == "INFO"
    assert any(line["event"] == "not claimable" and line["worker"] == "host:2" for line in lines)
    finished = next(line for line in lines if line["event"] == "finished")
    assert finished["attempt"] == 1 and finished["state"] == "scored" and finished["verdict"] == "scored"
    assert any(line["event"] == "lease lost" and line["level"] == "WARNING" for line in lines)


def test_configure_logging_puts_one_json_handler_on_the_root_logger():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure_logging("text")
        assert root.handlers == before  # text: logging left as it is
        configure_logging("json")
        configure_logging("json")
        added = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
        assert len(added) == 1 and root.level <= logging.INFO
    finally:
        root.handlers[:] = before
        root.setLevel(level)


@pytest.mark.slow
def test_a_real_worker_logs_json_lines_with_the_submission_id(tmp_path: Path):
    import redis

    broker = "redis://127.0.0.1:6379/9"
    redis.Redis.from_url(broker).flushdb()
    with temporary_database("grader_logs") as url:
        settings = {
            "GRADER_ENV": "test", "GRADER_DATABASE_URL": url, "GRADER_REDIS_URL": broker,
            "GRADER_STORAGE_DIR": str(tmp_path / "storage"), "GRADER_LOG_FORMAT": "json",
        }  # fmt: skip
        stack = Stack(settings, tmp_path)
        try:
            stack.start_worker()
            script = tmp_path / "broken.py"
            script.write_text("raise RuntimeError('my bug')\n")
            submission_id = stack.upload(script)
            stack.wait(submission_id, {"scored", "failed", "error"}, timeout=180)
        finally:
            stack.stop()
    text = (tmp_path / "worker-0.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("submission_id") == submission_id]
    events = {line.get("event") for line in mine}
    assert {"task started", "claimed", "finished", "task done"} <= events, text[-3000:]
    assert all(line["worker"] for line in mine if line.get("event") in ("claimed", "task started"))
    # Celery's own lines come through the same handler: its worker logs JSON too.
    assert any(line["logger"].startswith("celery") for line in lines), text[-3000:]
    assert not any(line.startswith("[20") for line in text.splitlines()), "a text log line slipped through"


def test_an_unknown_log_format_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="GRADER_LOG_FORMAT='xml': expected text or json"):
        ServiceConfig.from_env(tmp_path, {"GRADER_LOG_FORMAT": "xml"})
    assert ServiceConfig.from_env(tmp_path, {}).log_format == "text"
