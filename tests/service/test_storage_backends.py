"""Every store (a local folder, PostgreSQL, an S3 server) behind the one interface, and the service on each.

The same tests run on each backend: the round trip, equal content stored once, a damaged object
refused, a failed request's new object undone, a full store as the one error, and uploads through
the real endpoints. The s3 store talks to s3rver, a real server speaking S3's REST API
(tests/support/stores.py). A real submission is graded with the database and with the s3 store.

Full stores: the folder on a 1 MiB tmpfs and PostgreSQL with the blobs' table in a tablespace on one
really run out of space. s3rver cannot say it is full (a bare 500, then it dies: shown below), so
the s3 store's full answers come from a server that answers as MinIO, Ceph RGW or AWS do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import html
import io
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select
from support.assignments import FIXED_SCRIPT
from support.databases import PG_ADMIN, temporary_database
from support.stores import S3RVER_KEY, Behind, S3Server, refusing_s3, s3rver, small_disk, tablespace_on

from grader import worker_slot
from grader.api_errors import PROBLEM_JSON
from grader.app import create_app
from grader.assignments.services import publish
from grader.config import S3Settings, ServiceConfig
from grader.engine.sandbox.backend import BwrapBackend
from grader.engine.spec import BUILTIN
from grader.extensions import db
from grader.ops.doctor import FAIL, OK
from grader.ops.doctor_storage import check_storage
from grader.storage import (
    ObjectCorrupt,
    ObjectMissing,
    ObjectTooLarge,
    StorageError,
    StorageFull,
    Store,
    current_store,
    make_store,
)
from grader.storage.s3 import S3Store
from grader.submissions import services
from grader.submissions.models import State, Submission
from grader.workers import grading
from grader.workers.seeds import seeds_for

BACKENDS = ["local", "database", "s3"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3rver(tmp_path_factory.mktemp("s3rver"), tmp_path_factory.mktemp("s3rver-log")) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, service_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The service with this backend's store: the module's tests run once on each."""
    settings = {
        **service_settings,
        "GRADER_STORAGE": request.param,
        "GRADER_STORAGE_DIR": str(tmp_path_factory.mktemp("storage")),
    }
    if request.param == "s3":
        settings.update(request.getfixturevalue("s3_server").settings())
    app = create_app(settings)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def store(session: None) -> Store:
    return current_store()


@pytest.fixture
def behind(app: Flask, session: None, request: pytest.FixtureRequest) -> Behind:
    s3 = app.extensions["grader.config"].storage_backend == "s3"
    return Behind(app, request.getfixturevalue("s3_server") if s3 else None)


def test_a_round_trip_stores_equal_content_once(store: Store, behind: Behind) -> None:
    content = os.urandom(3000)
    before = behind.names()
    digest, created = store.put(content)
    assert created and digest == hashlib.sha256(content).hexdigest()
    assert store.put(content) == (digest, False)
    assert store.exists(digest) and store.get(digest) == content
    assert behind.names() == sorted([*before, digest])  # one object, no temporary beside it
    assert store.get(digest, max_bytes=3000) == content
    with pytest.raises(ObjectTooLarge):
        store.get(digest, max_bytes=2999)
    absent = hashlib.sha256(os.urandom(8)).hexdigest()
    assert not store.exists(absent)
    with pytest.raises(ObjectMissing):
        store.get(absent)
    with pytest.raises(ObjectMissing):  # a name is a hash, never a path or a key of the caller's making
        store.get("../../etc/passwd")


def test_a_damaged_object_is_an_error_never_data(store: Store, behind: Behind) -> None:
    digest, _ = store.put(os.urandom(2000))
    behind.damage(digest)
    with pytest.raises(ObjectCorrupt, match="does not match its hash"):
        store.get(digest)


def test_a_failed_request_undoes_its_new_object_and_only_that(store: Store, behind: Behind) -> None:
    kept = os.urandom(500)
    kept_digest, _ = store.put(kept)
    db.session.commit()  # an earlier request's object
    before = behind.names()
    digest, created = store.put(os.urandom(500))
    assert created and store.put(kept) == (kept_digest, False)
    db.session.rollback()  # the request failed: the upload service undoes the object it created
    store.discard(digest)
    assert not store.exists(digest) and behind.names() == before
    assert store.get(kept_digest) == kept


@pytest.mark.parametrize("app", ["database"], indirect=True)
def test_database_objects_commit_and_roll_back_with_the_rows_that_name_them(store: Store) -> None:
    digest, created = store.put(os.urandom(700))
    assert created and store.exists(digest)
    db.session.rollback()
    assert not store.exists(digest)  # gone with its transaction, before any discard
    digest, _ = store.put(os.urandom(700))
    db.session.commit()
    db.session.rollback()
    assert store.exists(digest)


def _post(client: Any, assignment_id: int, token: str, content: bytes) -> Any:
    return client.post(
        f"/api/v1/assignments/{assignment_id}/submissions",
        data={"file": (io.BytesIO(content), "solution.py")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )


def _login(client: Any, email: str) -> str:
    """Log in through the form; the session's CSRF token."""
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"email": email, "password": "pw", "csrf_token": token.findall(page)[0]}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return token.findall(client.get("/").get_data(as_text=True))[0]


def _solution() -> bytes:
    """The reference solution, made new bytes each time (stored objects outlive a test's rollback)."""
    return FIXED_SCRIPT.read_bytes() + f"# {uuid.uuid4()}\n".encode()


def _submissions() -> int:
    return db.session.scalar(select(func.count(Submission.id))) or 0


def test_uploads_through_the_api_and_the_form_keep_their_files_in_the_store(
    client: Any, student: Any, paraboloid: Any, student_token: str, store: Store
) -> None:
    content = _solution()
    response = _post(client, paraboloid.id, student_token, content)
    assert response.status_code == 202, response.get_json()
    submission = db.session.get(Submission, response.get_json()["id"])
    assert submission is not None and store.get(submission.file_sha256) == content
    csrf, form_content = _login(client, student.email), _solution()
    form = client.post(
        f"/assignments/{paraboloid.id}",
        data={"csrf_token": csrf, "file": (io.BytesIO(form_content), "solution.py")},
        content_type="multipart/form-data",
    )
    assert form.status_code == 303, form.get_data(as_text=True)
    assert store.exists(hashlib.sha256(form_content).hexdigest()) and _submissions() == 2


def test_an_upload_that_fails_after_storing_leaves_no_row_and_no_object(
    client: Any,
    paraboloid: Any,
    student_token: str,
    store: Store,
    behind: Behind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> str:
        raise RuntimeError("the request fails after its file was stored")

    monkeypatch.setattr(services, "queue_of", broken)
    before, content = behind.names(), _solution()
    response = _post(client, paraboloid.id, student_token, content)
    assert response.status_code == 500
    assert _submissions() == 0 and not store.exists(hashlib.sha256(content).hexdigest())
    assert behind.names() == before


@pytest.fixture(scope="module")
def small_tablespace() -> Iterator[str]:
    """A PostgreSQL tablespace on a 1 MiB tmpfs. For the module: it is dropped once every test's
    transaction (which moves the blobs' table into it, at most) has been rolled back."""
    with small_disk("1m", owner="postgres") as disk, tablespace_on(PG_ADMIN, disk) as name:
        yield name


@pytest.fixture
def full_store(
    app: Flask, store: Store, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Store]:
    """This backend's store with 1 MiB of room, installed as the app's: the folder on a tmpfs of that
    size, or the blobs' table in a tablespace on one; for s3, a server that answers as MinIO with its
    drives full."""
    config = app.extensions["grader.config"]
    with contextlib.ExitStack() as stack:
        if store.backend == "database":
            tablespace = request.getfixturevalue("small_tablespace")
            db.session.execute(sa.text(f"ALTER TABLE stored_blobs SET TABLESPACE {tablespace}"))
            stack.callback(db.session.rollback)  # the table back where it was, the tablespace empty
            full = store
        elif store.backend == "s3":
            endpoint = stack.enter_context(refusing_s3(507, "XMinioStorageFull"))
            full = make_store(
                dataclasses.replace(config, s3=dataclasses.replace(config.s3, endpoint_url=endpoint))
            )
        else:
            full = make_store(dataclasses.replace(config, storage_dir=stack.enter_context(small_disk("1m"))))
        monkeypatch.setitem(app.extensions, "grader.storage", full)
        yield full


def test_a_full_store_is_the_one_error_and_an_upload_gets_507_leaving_nothing(
    client: Any, paraboloid: Any, student_token: str, full_store: Store
) -> None:
    # Large objects until one does not fit, then smaller ones into what is left (a page's free space).
    for size in (64 * 1024, 4096, 256):
        for _ in range(1024):
            content = os.urandom(size)
            try:
                full_store.put(content)
            except StorageFull:
                break
        else:
            pytest.fail(f"1 MiB took 1024 objects of {size} bytes")
        assert not full_store.exists(hashlib.sha256(content).hexdigest())  # nothing half-written
    refused = _post(client, paraboloid.id, student_token, _solution())
    assert refused.status_code == 507 and refused.headers["Content-Type"] == PROBLEM_JSON
    assert "storage is full" in refused.get_json()["detail"] and _submissions() == 0


@pytest.mark.slow
@pytest.mark.parametrize("app", ["database", "s3"], indirect=True)
def test_a_real_submission_is_graded_from_and_into_the_store(
    client: Any, course: Any, student: Any, student_token: str, store: Store, runner_config: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # The worker's whole path in this process (claim, read the upload and hidden set, train in a real
    # sandbox, store the curves, commit), without Celery; one seed of the three keeps it short.
    uid = runner_config.sandbox_uid
    slot = worker_slot.Slot(uid, 1, runner_config.jobs_dir, None, None, BwrapBackend(uid))
    monkeypatch.setattr(worker_slot, "current", lambda: slot)
    monkeypatch.setattr(grading, "seeds_for", lambda submission_id, _: seeds_for(submission_id, 1))
    linear = publish(course, "linear")
    content = (BUILTIN / "linear" / "reference.py").read_bytes() + f"# {uuid.uuid4()}\n".encode()
    submission_id = _post(client, linear.id, student_token, content).get_json()["id"]
    assert grading.run(submission_id, "w1") == "finished"
    submission = db.session.get(Submission, submission_id)
    assert submission is not None and submission.result is not None
    db.session.refresh(submission)
    result = submission.result
    assert submission.state is State.SCORED and result.passed, result.message
    loss = next(curve for curve in result.curves if curve.series == "loss")
    assert loss.full_sha256 is not None
    full = json.loads(store.get(loss.full_sha256))
    assert len(full["steps"]) == loss.points_total == 3000
    # The pages read the same store: the code on the result page, a run's weights as a download.
    weights = os.urandom(4096)
    result.weights_sha256, _ = store.put(weights)
    db.session.commit()
    _login(client, student.email)
    page = client.get(f"/submissions/{submission_id}/result").get_data(as_text=True)
    assert "load_training_data" in page
    download = client.get(f"/submissions/{submission_id}/weights.safetensors")
    assert download.status_code == 200 and download.data == weights
    result.weights_sha256 = hashlib.sha256(b"never stored").hexdigest()
    db.session.commit()
    missing = client.get(f"/submissions/{submission_id}/weights.safetensors")
    assert missing.status_code == 404
    assert "missing from the grader's storage" in html.unescape(missing.get_data(as_text=True))


def _s3_store(endpoint_url: str) -> S3Store:
    return S3Store(S3Settings("grader-test", "objects/", endpoint_url, "us-east-1", S3RVER_KEY, S3RVER_KEY))


@pytest.mark.parametrize(
    "status, code",
    [
        (507, "XMinioStorageFull"),  # MinIO, its drives full
        (507, "InsufficientStorage"),  # any server answering WebDAV's 507
        (403, "QuotaExceeded"),  # Ceph RGW, a user's or bucket's quota
        (400, "XMinioAdminBucketQuotaExceeded"),  # MinIO, a bucket's quota
        (400, "EntityTooLarge"),  # over the server's largest object
    ],
)
def test_the_answers_of_a_full_object_store_are_storage_full(status: int, code: str) -> None:
    with refusing_s3(status, code) as endpoint:
        with pytest.raises(StorageFull, match=code):
            _s3_store(endpoint).put(os.urandom(100))


def test_an_object_stores_other_failures_are_errors_but_not_full() -> None:
    with refusing_s3(500, "InternalError") as endpoint:  # retried (three attempts in all), then given up
        with pytest.raises(StorageError, match="InternalError") as refused:
            _s3_store(endpoint).put(os.urandom(100))
    assert not isinstance(refused.value, StorageFull)


def test_s3rver_on_a_full_disk_fails_the_put_and_its_half_written_object_is_never_data(
    tmp_path: Path,
) -> None:
    with small_disk("1m") as disk:
        with s3rver(disk, tmp_path) as server:
            store, stored = _s3_store(server.endpoint_url), []
            for _ in range(64):
                content = os.urandom(64 * 1024)
                try:
                    stored.append(store.put(content)[0])
                except StorageError as exc:
                    failure = exc
                    break
            else:
                pytest.fail("s3rver took 4 MiB on a 1 MiB disk")
            # Nothing in s3rver's answer says "full" (a bare 500 InternalError, after which its
            # process dies of the unhandled write error), so it is not called full here either.
            assert stored and not isinstance(failure, StorageFull)
        # Started again on what it left: the failed object's file, cut short where the disk ran out.
        # Reading it is refused: checked and found short or missing, or (when s3rver kept no metadata
        # for it) s3rver's own 500, which may take its process down again. Never its bytes as data.
        digest = hashlib.sha256(content).hexdigest()
        with s3rver(disk, tmp_path) as server:
            with pytest.raises((ObjectCorrupt, ObjectMissing, StorageError)) as refused:
                _s3_store(server.endpoint_url).get(digest)
            assert not isinstance(refused.value, StorageFull)
        with s3rver(disk, tmp_path) as server:
            store = _s3_store(server.endpoint_url)
            assert len(store.get(stored[1])) == 64 * 1024  # the whole objects are intact
            store.discard(stored[0])  # room again
            try:
                written = store.put(content)
            except StorageError:  # s3rver cannot even look at what it half wrote (a 500): refused too
                return
            assert written == (digest, True)  # the short object is not taken for this one
            assert store.get(digest) == content


def test_the_doctor_writes_an_object_reads_it_back_and_removes_it(app: Flask, behind: Behind) -> None:
    config = app.extensions["grader.config"]
    before = behind.names()
    (found,) = check_storage(config, timeout=5)
    assert found.status == OK, found
    assert found.detail.startswith(f"{config.storage_backend}: ") and "wrote and read back" in found.detail
    assert behind.names() == before


def test_the_doctor_says_what_is_wrong_with_a_store_and_how_to_fix_it(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed again: nothing listens there
    s3 = {"GRADER_STORAGE": "s3", "GRADER_S3_BUCKET": "grader-test", "GRADER_S3_ACCESS_KEY_ID": S3RVER_KEY,
          "GRADER_S3_SECRET_ACCESS_KEY": S3RVER_KEY}  # fmt: skip
    (unreachable,) = check_storage(
        ServiceConfig.from_env(tmp_path, {**s3, "GRADER_S3_ENDPOINT_URL": nobody}), 5
    )
    assert unreachable.status == FAIL and "EndpointConnectionError" in unreachable.detail
    assert "GRADER_S3_ENDPOINT_URL" in unreachable.fix
    with refusing_s3(507, "XMinioStorageFull") as endpoint:
        (full,) = check_storage(
            ServiceConfig.from_env(tmp_path, {**s3, "GRADER_S3_ENDPOINT_URL": endpoint}), 5
        )
    assert full.status == FAIL and "no room left" in full.detail and full.fix.startswith("free space")
    with temporary_database("grader_doctor_storage") as url:  # never migrated: no stored_blobs
        config = ServiceConfig.from_env(tmp_path, {"GRADER_DATABASE_URL": url, "GRADER_STORAGE": "database"})
        (unmigrated,) = check_storage(config, 5)
    assert (
        unmigrated.status == FAIL and "stored_blobs" in unmigrated.detail and "db upgrade" in unmigrated.fix
    )
