"""Where a backup repository keeps its files: a local folder or S3-compatible object storage.

Both offer the same few operations on ``/``-separated keys (``config.json``, ``objects/ab/…``,
``backups/<id>``), each all-or-nothing: a local file is written to a temporary name, flushed and
renamed; an S3 object exists only once its upload completed.  ``s3://bucket/prefix`` locations use
boto3 with its standard retry mode (exponential backoff); the endpoint and credentials come from
boto3's own settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, or a profile), so MinIO, Ceph or a cloud bucket are all addressed alike.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class BackupError(RuntimeError):
    """A backup, verification or restore that cannot go on; the message says what and the fix."""


class StorageError(BackupError):
    """The storage could not be reached or refused an operation; the message names it and the fix."""


class Storage(Protocol):
    location: str

    def read(self, key: str) -> bytes | None: ...  # None: no such key
    def write(self, key: str, body: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def keys(self, prefix: str) -> Iterator[str]: ...
    def delete(self, key: str) -> int: ...  # bytes freed


def open_storage(location: str | os.PathLike) -> Storage:
    """The storage of ``location``: ``s3://bucket/prefix`` or a local folder."""
    text = str(location)
    return S3Storage(text) if text.startswith("s3://") else LocalStorage(Path(text))


class LocalStorage:
    """A local folder (created on the first write)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.location = str(self.folder)

    def read(self, key: str) -> bytes | None:
        path = self.folder / key
        return path.read_bytes() if path.is_file() else None

    def write(self, key: str, body: bytes) -> None:
        path = self.folder / key
        temporary = path.with_name(f".tmp-{secrets.token_hex(6)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as error:
            raise StorageError(f"writing {key} to {self.folder} failed: {error}. Fix: free space on that disk, or "
                               "choose another repository") from None
        finally:
            temporary.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return (self.folder / key).is_file()

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.folder / prefix
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    yield path.relative_to(self.folder).as_posix()

    def delete(self, key: str) -> int:
        path = self.folder / key
        size = path.stat().st_size
        path.unlink()
        return size


class S3Storage:
    """A bucket and key prefix of S3-compatible object storage (``s3://bucket/prefix``)."""

    def __init__(self, location: str, *, attempts: int = 5):
        import boto3
        from botocore.config import Config

        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise StorageError(f"{location!r} names no bucket; write s3://bucket/prefix")
        self.location, self.bucket, self.prefix = location, bucket, prefix.strip("/")
        self._client = boto3.client("s3", config=Config(retries={"max_attempts": attempts, "mode": "standard"},
                                                        connect_timeout=5, read_timeout=60))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, operation, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return operation(Bucket=self.bucket, **kwargs)
        except ClientError as error:
            raise StorageError(f"{what} at {self.location} refused: {error}. Fix: check the bucket exists and the "
                               "credentials may use it (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)") from None
        except BotoCoreError as error:
            raise StorageError(f"{what} at {self.location} failed after retries: {error}. Fix: check the object "
                               "store is up and $AWS_ENDPOINT_URL points at it") from None

    def read(self, key: str) -> bytes | None:
        if not self.exists(key):
            return None
        return self._call(f"reading {key}", self._client.get_object, Key=self._key(key))["Body"].read()

    def write(self, key: str, body: bytes) -> None:
        self._call(f"writing {key}", self._client.put_object, Key=self._key(key), Body=body)

    def exists(self, key: str) -> bool:
        found = self._call(f"looking up {key}", self._client.list_objects_v2, Prefix=self._key(key), MaxKeys=1)
        return any(item["Key"] == self._key(key) for item in found.get("Contents", []))

    def keys(self, prefix: str) -> Iterator[str]:
        token = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call(f"listing {prefix}", self._client.list_objects_v2, Prefix=self._key(prefix), **extra)
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def delete(self, key: str) -> int:
        head = self._call(f"looking up {key}", self._client.head_object, Key=self._key(key))
        self._call(f"deleting {key}", self._client.delete_object, Key=self._key(key))
        return int(head["ContentLength"])
