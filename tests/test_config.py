"""Configuration comes only from GRADER_* variables and is checked at start."""

from __future__ import annotations

import re
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


S3 = {"GRADER_STORAGE": "s3", "GRADER_S3_BUCKET": "grader-objects"}


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"GRADER_STORAGE": "nfs"}, "GRADER_STORAGE='nfs': expected local (a folder on this host), database"),
        ({"GRADER_STORAGE": "s3"}, "GRADER_STORAGE=s3 needs GRADER_S3_BUCKET"),
        (
            {**S3, "GRADER_S3_BUCKET": "Grader_Objects"},
            "GRADER_S3_BUCKET='Grader_Objects': expected a bucket name",
        ),
        ({**S3, "GRADER_S3_ENDPOINT_URL": "minio:9000"}, "GRADER_S3_ENDPOINT_URL='minio:9000': expected"),
        ({**S3, "GRADER_S3_ENDPOINT_URL": "https://key:secret@minio"}, "with no credentials in it"),
        (
            {**S3, "GRADER_S3_ACCESS_KEY_ID": "AKIA0000"},
            "GRADER_S3_ACCESS_KEY_ID and GRADER_S3_SECRET_ACCESS_KEY go",
        ),
        ({**S3, "GRADER_S3_PREFIX": "a b"}, "GRADER_S3_PREFIX='a b'"),
        ({**S3, "GRADER_S3_REGION": "US East"}, "GRADER_S3_REGION='US East'"),
        # Set for a bucket, forgotten GRADER_STORAGE: each host would keep its own folder.
        ({"GRADER_S3_BUCKET": "grader-objects"}, "GRADER_S3_BUCKET is set but GRADER_STORAGE=local"),
        ({"GRADER_STORAGE": "database"}, "GRADER_STORAGE=database keeps the objects in PostgreSQL"),
    ],
)
def test_storage_settings_that_do_not_fit_are_refused(tmp_path: Path, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ServiceConfig.from_env(tmp_path, settings)


def test_the_store_is_chosen_by_configuration(tmp_path: Path):
    local = ServiceConfig.from_env(tmp_path, {})
    assert (local.storage_backend, local.storage_dir, local.s3) == ("local", tmp_path / "storage", None)
    # One host in production may keep the folder (docs/deploy.md: several hosts take database or s3).
    production = {"GRADER_ENV": "production", "GRADER_SECRET_KEY": "k" * 40}
    assert ServiceConfig.from_env(tmp_path, production).storage_backend == "local"
    postgres = {"GRADER_DATABASE_URL": "postgresql://u@db/grader", "GRADER_STORAGE": "database"}
    assert ServiceConfig.from_env(tmp_path, postgres).storage_backend == "database"
    s3 = ServiceConfig.from_env(
        tmp_path,
        {**S3, "GRADER_S3_ENDPOINT_URL": "https://minio.example.edu:9000", "GRADER_S3_PREFIX": "/grader/objects/",
         "GRADER_S3_ACCESS_KEY_ID": "AKIA0000", "GRADER_S3_SECRET_ACCESS_KEY": "s3cret-value"},
    )  # fmt: skip
    assert s3.storage_backend == "s3" and s3.s3 is not None
    assert (s3.s3.bucket, s3.s3.prefix, s3.s3.endpoint_url, s3.s3.region) == (
        "grader-objects", "grader/objects/", "https://minio.example.edu:9000", "us-east-1",
    )  # fmt: skip
    assert s3.s3.secret_access_key == "s3cret-value" and "s3cret-value" not in repr(s3)
    without_keys = ServiceConfig.from_env(tmp_path, S3).s3
    assert without_keys is not None and without_keys.access_key_id is None  # boto3's own chain
