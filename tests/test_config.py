"""Configuration comes only from GRADER_* variables and is checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.config import ConfigError, ServiceConfig


def test_defaults_are_the_embedded_service(tmp_path: Path):
    config = ServiceConfig.from_env(tmp_path, {"GRADER_ENV": "development"})
    assert config.database_url == f"sqlite:///{tmp_path / 'grader.sqlite3'}"
    assert config.broker_url.startswith("sqla+sqlite:///")


def test_postgres_urls_use_psycopg(tmp_path: Path):
    config = ServiceConfig.from_env(tmp_path, {"GRADER_DATABASE_URL": "postgres://u@db/grader"})
    assert config.database_url == "postgresql+psycopg://u@db/grader"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"GRADER_ENV": "production"}, "GRADER_SECRET_KEY must be set"),
        ({"GRADER_ENV": "production", "GRADER_SECRET_KEY": "short"}, "at least 32 characters"),
        ({"GRADER_ENV": "staging"}, "GRADER_ENV='staging'"),
        ({"GRADER_DATABASE_URL": "mysql://x"}, "GRADER_DATABASE_URL"),
        ({"GRADER_REDIS_URL": "amqp://x"}, "GRADER_REDIS_URL"),
        ({"GRADER_LEASE_SECONDS": "soon"}, "GRADER_LEASE_SECONDS='soon': expected a whole number"),
        ({"GRADER_MAX_ATTEMPTS": "0"}, "GRADER_MAX_ATTEMPTS=0: must be at least 1"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(tmp_path: Path, settings, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ServiceConfig.from_env(tmp_path, {"GRADER_SECRET_KEY": "", **settings})


def test_production_accepts_a_real_secret(tmp_path: Path):
    config = ServiceConfig.from_env(tmp_path, {"GRADER_ENV": "production", "GRADER_SECRET_KEY": "k" * 40})
    assert config.env == "production"


def test_production_student_code_gets_a_uid_of_its_own_root_bubblewrap_or_containers():
    from grader.config import RunnerConfig

    with pytest.raises(
        ConfigError, match="student code must run as a uid of its own: set GRADER_SANDBOX=docker"
    ):
        RunnerConfig.from_env({"GRADER_ENV": "production"}, euid=1000)
    assert RunnerConfig.from_env({"GRADER_ENV": "development"}, euid=1000).sandbox_uid is None  # a laptop
    assert RunnerConfig.from_env({"GRADER_ENV": "production"}, euid=0).sandbox_uid == 61000
    # The compose stack: unprivileged workers start sandbox containers, which run as a uid of their own.
    docker = RunnerConfig.from_env({"GRADER_ENV": "production", "GRADER_SANDBOX": "docker"}, euid=10001)
    assert (docker.sandbox_backend, docker.sandbox_uid, docker.sandbox_image) == (
        "docker",
        61000,
        "grader-sandbox:local",
    )
    with pytest.raises(ConfigError, match="GRADER_SANDBOX='podman': expected one of bwrap, docker"):
        RunnerConfig.from_env({"GRADER_SANDBOX": "podman"}, euid=0)
    with pytest.raises(ConfigError, match="GRADER_LOGIN_LIMIT_ACCOUNT='often'"):
        ServiceConfig.from_env(Path("/tmp"), {"GRADER_LOGIN_LIMIT_ACCOUNT": "often"})
