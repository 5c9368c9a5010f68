"""What the storage backends' tests run on: a real S3 server, and small disks that really fill up.

The S3 server is s3rver (npm, package.json's devDependencies, installed by ``npm ci`` in
scripts/setup): a Node.js server speaking S3's REST API, keeping its objects in a folder. Each one
started here listens on a free loopback port (it picks it: ``--port 0``) with a folder of its own.

s3rver has no quotas, and on a full disk it answers a bare "500 InternalError" and then dies of the
same write error, leaving a truncated object behind (tests/service/test_storage_backends.py shows
it). The answers of stores that say they are full are therefore served by ``refusing_s3``: an HTTP
server that answers a PUT with the status and error document MinIO, Ceph RGW or AWS would send.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from grader.extensions import db
from grader.storage.models import StoredBlob

ROOT = Path(__file__).resolve().parents[2]
S3RVER = ROOT / "node_modules" / "s3rver" / "bin" / "s3rver.js"
S3RVER_KEY = "S3RVER"  # s3rver's built-in account: access key id and secret are both this
LISTENING = re.compile(r"S3rver listening on [0-9.]+:(\d+)")


@dataclass
class S3Server:
    endpoint_url: str
    bucket: str
    directory: Path
    log: Path
    process: subprocess.Popen[bytes]

    def settings(self) -> dict[str, str]:
        return {
            "GRADER_STORAGE": "s3",
            "GRADER_S3_ENDPOINT_URL": self.endpoint_url,
            "GRADER_S3_BUCKET": self.bucket,
            "GRADER_S3_PREFIX": "objects/",
            "GRADER_S3_ACCESS_KEY_ID": S3RVER_KEY,
            "GRADER_S3_SECRET_ACCESS_KEY": S3RVER_KEY,
        }

    def client(self):  # type: ignore[no-untyped-def]
        """A plain boto3 client on the server: to look behind the store's back."""
        import boto3

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id=S3RVER_KEY, aws_secret_access_key=S3RVER_KEY,
        )  # fmt: skip


@contextlib.contextmanager
def s3rver(directory: Path, log_dir: Path, bucket: str = "grader-test") -> Iterator[S3Server]:
    """An s3rver keeping ``bucket`` in ``directory``, stopped (and its folder left) afterwards."""
    node = shutil.which("node")
    if node is None or not S3RVER.is_file():
        pytest.fail(
            "the s3 store's tests need s3rver: install Node.js and run `npm ci` (scripts/setup does both)"
        )
    log = log_dir / f"s3rver-{uuid.uuid4().hex[:6]}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [node, str(S3RVER), "--directory", str(directory), "--address", "127.0.0.1", "--port", "0",
             "--no-vhost-buckets", "--configure-bucket", bucket],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        port = _wait_for_port(process, log, timeout=30)
        yield S3Server(f"http://127.0.0.1:{port}", bucket, directory, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for_port(process: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(
        f"s3rver did not start (exit code {process.poll()}):\n{log.read_text(errors='replace')}"
    )


@contextlib.contextmanager
def refusing_s3(status: int, code: str) -> Iterator[str]:
    """The address of a server where nothing is stored (404) and a PUT gets ``status`` with the error
    document ``code`` (e.g. 507 XMinioStorageFull: MinIO's answer when its drives are full)."""

    class Answers(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _error(self, status: int, code: str) -> None:
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{code}</Message>'
                f"<Resource>{self.path}</Resource><RequestId>1</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self._error(404, "NoSuchKey")

        do_GET = do_HEAD

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._error(status, code)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def small_disk(size: str, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` (``1m``): a real file system that really runs out of space (root only)."""
    if os.geteuid() != 0:
        pytest.skip("filling a disk for real needs a small tmpfs, and mounting one needs root")
    # Under /tmp, readable on the way down: PostgreSQL's server (the postgres user) writes in it too.
    parent = Path(tempfile.mkdtemp(prefix="grader-small-disk-"))
    parent.chmod(0o755)
    mount = parent / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount)], check=True)
    try:
        if owner is not None:
            account = pwd.getpwnam(owner)
            os.chown(mount, account.pw_uid, account.pw_gid)
            mount.chmod(0o700)
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)
        shutil.rmtree(parent, ignore_errors=True)


@contextlib.contextmanager
def tablespace_on(admin_url: str, folder: Path) -> Iterator[str]:
    """A PostgreSQL tablespace in ``folder`` (owned by the postgres user), dropped afterwards.

    Only what is moved into it lives on that disk; the server's own files and its WAL stay where
    they are, so the server keeps running when it is full (as a full data disk would not let it).
    """
    name = f"grader_small_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f"CREATE TABLESPACE {name} LOCATION '{folder}'"))
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP TABLESPACE IF EXISTS {name}"))
        admin.dispose()


class Behind:
    """The backend's objects seen without the store: their names, and damage done to one in place."""

    def __init__(self, app: Flask, server: S3Server | None) -> None:
        self.config = app.extensions["grader.config"]
        self.server = server

    def names(self) -> list[str]:
        if self.config.storage_backend == "local":
            return sorted(p.name for p in (self.config.storage_dir / "files").rglob("*") if p.is_file())
        if self.config.storage_backend == "database":
            return sorted(db.session.scalars(select(StoredBlob.sha256)))
        assert self.server is not None
        listed = self.server.client().list_objects_v2(Bucket=self.server.bucket, Prefix="objects/")
        return sorted(item["Key"].removeprefix("objects/") for item in listed.get("Contents", []))

    def damage(self, sha256: str) -> None:
        """One byte changed, the length kept."""
        if self.config.storage_backend == "local":
            path = self.config.storage_dir / "files" / sha256[:2] / sha256[2:4] / sha256
            path.write_bytes(_flipped(path.read_bytes()))
        elif self.config.storage_backend == "database":
            blob = db.session.get(StoredBlob, sha256)
            assert blob is not None
            blob.content = _flipped(blob.content)
            db.session.flush()
        else:
            assert self.server is not None
            client, key = self.server.client(), f"objects/{sha256}"
            content = client.get_object(Bucket=self.server.bucket, Key=key)["Body"].read()
            client.put_object(Bucket=self.server.bucket, Key=key, Body=_flipped(content))


def _flipped(content: bytes) -> bytes:
    return bytes([content[0] ^ 0xFF]) + content[1:]
