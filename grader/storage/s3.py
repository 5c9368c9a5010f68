"""Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...): one key per object.

The client is made once per app, with short timeouts and a bounded number of attempts: an upload
request or a worker waits seconds for an unreachable store, never minutes.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import ObjectMissing, StorageError, StorageFull, check_size, checked_name, digest_of, verified

if TYPE_CHECKING:
    from grader.config import S3Settings

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 20.0  # each wait for the server, not a whole transfer
ATTEMPTS = 3  # in all, the first included ("standard" retries: throttling, 5xx, connection errors)
# What S3 and the S3-compatible servers answer when they cannot take more: 507 (MinIO's full disk
# is XMinioStorageFull), a quota (Ceph RGW's QuotaExceeded, a MinIO bucket quota), or an object
# over the server's configured size limit (EntityTooLarge: it cannot take this one).
FULL_CODES = frozenset(
    {"InsufficientStorage", "XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded",
     "EntityTooLarge"}
)  # fmt: skip
MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Store:
    backend = "s3"

    def __init__(self, settings: S3Settings, client: Any | None = None) -> None:
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self._endpoint = settings.endpoint_url
        self._client = client if client is not None else make_client(settings)

    def key(self, sha256: str) -> str:
        return self.prefix + checked_name(sha256)

    def put(self, content: bytes) -> tuple[str, bool]:
        digest = digest_of(content)
        key = self.key(digest)
        if self._size(key) == len(content):
            return digest, False
        # Missing, or of another length: what a server that writes objects in place (not S3 itself)
        # can leave after a failed upload. Content-MD5 lets the server refuse bytes damaged on the way.
        md5 = base64.b64encode(hashlib.md5(content, usedforsecurity=False).digest()).decode()
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=content,
                ContentMD5=md5,
                ContentType="application/octet-stream",
            )
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "store an object in") from exc
        return digest, True

    def get(self, sha256: str, max_bytes: int | None = None) -> bytes:
        key = self.key(sha256)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            try:
                if response.get("ContentLength") is not None:
                    check_size(sha256, int(response["ContentLength"]), max_bytes)
                content = body.read() if max_bytes is None else body.read(max_bytes + 1)
            finally:
                body.close()
        except ClientError as exc:
            if _code(exc) in MISSING_CODES:
                raise ObjectMissing(f"stored object {sha256[:12]}… is not in the bucket") from None
            raise _error(exc, "read an object from") from exc
        except BotoCoreError as exc:
            raise _error(exc, "read an object from") from exc
        check_size(sha256, len(content), max_bytes)  # a server that sent more than it announced
        return verified(sha256, content)

    def exists(self, sha256: str) -> bool:
        return self._size(self.key(sha256)) is not None

    def discard(self, sha256: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "delete an object from") from exc

    def describe(self) -> str:
        where = self._endpoint or "AWS S3"
        return f"the bucket {self.bucket} at {where}" + (f", keys under {self.prefix}" if self.prefix else "")

    def _size(self, key: str) -> int | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in MISSING_CODES:
                return None
            raise _error(exc, "look up an object in") from exc
        except BotoCoreError as exc:
            raise _error(exc, "look up an object in") from exc
        return int(head["ContentLength"])


def make_client(settings: S3Settings) -> Any:
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        signature_version="s3v4",
        # Path-style keys work on every S3-compatible server; virtual hosts need DNS for each bucket.
        s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
        # Checksums only where the API requires them: many S3-compatible servers refuse the newer
        # ones, and every object is checked against its own SHA-256 when read anyway.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # A session of its own: boto3's default session is shared module state, not safe across threads.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        config=config,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error(exc: ClientError | BotoCoreError, doing: str) -> StorageError:
    if isinstance(exc, ClientError):
        code, status = _code(exc), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 507 or code in FULL_CODES:
            return StorageFull(f"the object store has no room left ({code or status})")
        return StorageError(f"could not {doing} the object store ({code or 'error'}, HTTP {status})")
    # The exception's name, not its text: that names the endpoint, and these messages reach a run's page.
    return StorageError(f"could not {doing} the object store ({type(exc).__name__})")
