"""S3 (and S3-compatible: MinIO, Ceph, ...) storage for recordings, through boto3.

boto3 is blocking, so every call runs in a thread (``asyncio.to_thread``); one client is
shared by those threads (botocore clients are thread-safe, sessions are not).

Uploads ask S3 for SHA-256 checksums (``ChecksumAlgorithm=SHA256``): S3 refuses any request
whose body does not match the checksum botocore computed, and keeps the object's checksum.
After the upload we compare that stored checksum with the one computed here from the file
(for a multipart upload S3 keeps a checksum of the part checksums, "composite", which we
compute the same way). Where a store keeps no SHA-256, or the values disagree, the object is
read back and hashed: a recording is never marked stored on trust.

Deleting removes every version and delete marker of a key (a plain DELETE on a versioned
bucket only hides the object): ``delete`` lists one key's versions and deletes them until none
is left; ``delete_many`` lists a run of keys per folder and sends ``DeleteObjects`` in batches
of 1,000 (the API's maximum), a few requests at a time. A key whose only version the caller
knows (``known_versions``: the VersionId its upload recorded) is not listed at all: its
version goes straight into a ``DeleteObjects`` batch.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.utils import ChunksizeAdjuster

from recordings.errors import ChecksumMismatch, ObjectNotFound, StorageConfigError, StorageUnavailable
from recordings.storage import Deletion, StoredObject, check_key, sha256_file

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        ErrorTypeDef,
        HeadObjectOutputTypeDef,
        ListObjectVersionsOutputTypeDef,
        ObjectIdentifierTypeDef,
    )

logger = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")
MIB = 1024 * 1024
# DeleteObjects takes at most 1,000 keys per request (S3 API reference, DeleteObjects).
DELETE_BATCH = 1000
# Version listings and DeleteObjects requests of one ``delete_many`` in flight at once.
_CONCURRENCY = 8
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_READ_BLOCK = MIB


def _same_checksum(remote: str | None, expected: str) -> bool:
    """Compare S3's checksum with ours. For multipart objects S3 documents "<base64>-<parts>";
    some servers (moto among them) leave out the "-<parts>" suffix. Base64 has no "-"."""
    if remote is None:
        return False
    if "-" in remote:
        return remote == expected
    return remote == expected.split("-", 1)[0]


class S3Storage:
    """Recordings in ``bucket`` under ``prefix``; see the module docstring for verification.

    ``server_side_encryption`` is sent as ``x-amz-server-side-encryption`` on every upload
    ("AES256" or "aws:kms"); the recordings are already encrypted with their own data keys,
    so this is a second layer the bucket policy may demand. Uploads of at least
    ``multipart_threshold`` bytes go in parts of ``multipart_chunksize`` (S3's minimum part
    is 5 MiB; s3transfer enforces it).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        server_side_encryption: str | None = None,
        multipart_threshold: int = 16 * MIB,
        multipart_chunksize: int = 16 * MIB,
        max_concurrency: int = 4,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
        verify_by_reading: bool = False,
    ) -> None:
        if not _BUCKET.fullmatch(bucket):
            raise StorageConfigError(f"invalid S3 bucket name: {bucket!r}")
        self.bucket = bucket
        self.prefix = check_key(prefix) if prefix else ""
        self.endpoint_url = endpoint_url
        self.server_side_encryption = server_side_encryption
        self.verify_by_reading = verify_by_reading
        self._region = region or ("us-east-1" if endpoint_url else None)
        self._credentials = (access_key_id, secret_access_key)
        self._botocore_config = Config(
            signature_version="s3v4",
            # MinIO and most S3-compatible servers want path-style URLs.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            # The classic transfer manager: its part layout is what ``_local_checksum`` assumes.
            preferred_transfer_client="classic",
        )
        self._client_lock = threading.Lock()
        self._client: S3Client | None = None
        self._delete_batch = DELETE_BATCH

    def __repr__(self) -> str:
        return (
            f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"
        )

    # -- plumbing -------------------------------------------------------------------------

    def _s3(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                session = boto3.session.Session(
                    aws_access_key_id=self._credentials[0],
                    aws_secret_access_key=self._credentials[1],
                    region_name=self._region,
                )
                self._client = session.client(
                    "s3", endpoint_url=self.endpoint_url, config=self._botocore_config
                )
            return self._client

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _run(self, what: str, key: str, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking boto3 step in a thread, mapping its errors onto ours."""
        try:
            return await asyncio.to_thread(function, *args)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _NOT_FOUND:
                raise ObjectNotFound(f"no object {key}") from exc
            raise StorageUnavailable(f"S3 {what} of {key} failed: {code or status}") from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise StorageUnavailable(f"S3 {what} of {key} failed: {type(exc).__name__}") from exc

    # -- blocking steps (run in threads) --------------------------------------------------

    def _head_object(self, object_key: str) -> HeadObjectOutputTypeDef:
        client = self._s3()
        try:
            return client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) not in _NOT_FOUND:
                raise
            # A HEAD's 404 has no body to say whether the key or the whole bucket is missing;
            # a missing bucket is a broken setup (retry later), not a missing recording.
            try:
                client.head_bucket(Bucket=self.bucket)
            except ClientError as bucket_exc:
                raise StorageUnavailable(f"S3 bucket {self.bucket} is not accessible") from bucket_exc
            raise

    def _local_checksum(self, path: Path) -> tuple[int, str, str]:
        """Size, hex SHA-256, and the base64 SHA-256 checksum S3 will report for this file."""
        size = path.stat().st_size
        whole = hashlib.sha256()
        if size < self._transfer.multipart_threshold:
            with path.open("rb") as reader:
                while block := reader.read(_READ_BLOCK):
                    whole.update(block)
            return size, whole.hexdigest(), base64.b64encode(whole.digest()).decode()
        # Multipart: S3's checksum is SHA-256 over the concatenated part digests, then "-N"
        # (S3 user guide, "Checking object integrity", checksums of multipart uploads).
        part_size = ChunksizeAdjuster().adjust_chunksize(self._transfer.multipart_chunksize, size)
        part_digests = bytearray()
        parts = 0
        with path.open("rb") as reader:
            while part := reader.read(part_size):
                whole.update(part)
                part_digests += hashlib.sha256(part).digest()
                parts += 1
        composite = base64.b64encode(hashlib.sha256(part_digests).digest()).decode()
        return size, whole.hexdigest(), f"{composite}-{parts}"

    def _read_back(self, object_key: str, version_id: str | None) -> tuple[int, str]:
        client = self._s3()
        if version_id:
            body = client.get_object(Bucket=self.bucket, Key=object_key, VersionId=version_id)["Body"]
        else:
            body = client.get_object(Bucket=self.bucket, Key=object_key)["Body"]
        digest, size = hashlib.sha256(), 0
        try:
            while block := body.read(_READ_BLOCK):
                digest.update(block)
                size += len(block)
        finally:
            body.close()
        return size, digest.hexdigest()

    def _put(self, key: str, path: Path) -> StoredObject:
        object_key = self._object_key(key)
        size, sha256, expected_checksum = self._local_checksum(path)
        extra: dict[str, Any] = {"Metadata": {"sha256": sha256}, "ChecksumAlgorithm": "SHA256"}
        if self.server_side_encryption:
            extra["ServerSideEncryption"] = self.server_side_encryption
        client = self._s3()
        client.upload_file(str(path), self.bucket, object_key, ExtraArgs=extra, Config=self._transfer)
        head = client.head_object(Bucket=self.bucket, Key=object_key, ChecksumMode="ENABLED")
        if head["ContentLength"] != size:
            raise ChecksumMismatch(f"S3 holds {head['ContentLength']} bytes of {key}, expected {size}")
        remote_checksum = head.get("ChecksumSHA256")
        if self.verify_by_reading or not _same_checksum(remote_checksum, expected_checksum):
            if remote_checksum is not None and not self.verify_by_reading:
                logger.warning("S3 checksum of %s differs from the local one; reading it back", key)
            read_size, read_sha256 = self._read_back(object_key, head.get("VersionId"))
            if (read_size, read_sha256) != (size, sha256):
                raise ChecksumMismatch(f"the object S3 holds for {key} differs from the uploaded file")
        return StoredObject(key, size, sha256, head.get("ETag"), head.get("VersionId"))

    def _head(self, key: str) -> StoredObject:
        head = self._head_object(self._object_key(key))
        return StoredObject(
            key, head["ContentLength"], head.get("Metadata", {}).get("sha256"), head.get("ETag")
        )

    def _get(self, key: str, dst: Path) -> StoredObject:
        object_key = self._object_key(key)
        client = self._s3()
        head = self._head_object(object_key)
        expected = head.get("Metadata", {}).get("sha256")
        extra = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
        tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.partial")
        try:
            client.download_file(self.bucket, object_key, str(tmp), ExtraArgs=extra, Config=self._transfer)
            size, sha256 = sha256_file(tmp)
            if expected is not None and sha256 != expected:
                raise ChecksumMismatch(f"downloaded {key} does not match its stored SHA-256")
            tmp.replace(dst)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key, size, sha256, head.get("ETag"))

    def _list_versions(self, object_keys: list[str]) -> dict[str, list[str]]:
        """Version ids (delete markers included) of each of ``object_keys``, sorted keys of one
        folder, in about one request per 1,000 versions.

        Keys are listed by their own name until one has versions (normally the first); from
        that anchor on, the folder is listed past it (``KeyMarker``) until past the last key,
        and a key that listing shows nothing of is listed again by its own name before nothing
        is believed. The continuation markers thus stay within this run of keys, which nobody
        else deletes meanwhile. (moto 5 skips the first entry after a ``KeyMarker`` without
        ``VersionIdMarker`` even when the marker key has no versions, and loses the rest of a
        listing whose continuation marker was deleted: both are harmless here.)
        """
        client = self._s3()
        wanted = set(object_keys)
        # Per key: each version id, and whether it is the latest.
        found: dict[str, dict[str, bool]] = {key: {} for key in object_keys}

        def listing(**params: str) -> Iterator[ListObjectVersionsOutputTypeDef]:
            while True:
                page = client.list_object_versions(Bucket=self.bucket, **params)  # type: ignore[arg-type]
                yield page
                if not page.get("IsTruncated") or not page.get("NextKeyMarker"):
                    return
                params = {
                    **params,
                    "KeyMarker": page["NextKeyMarker"],
                    "VersionIdMarker": page.get("NextVersionIdMarker", ""),
                }

        def collect(page: ListObjectVersionsOutputTypeDef) -> None:
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                key = entry.get("Key", "")
                # By prefix, "a.enc" also matches "a.enc.old"; by folder, other objects' keys.
                if key in wanted and "VersionId" in entry:
                    found[key][entry["VersionId"]] = bool(entry.get("IsLatest"))

        def by_name(key: str) -> None:
            for page in listing(Prefix=key):
                collect(page)

        rest = list(object_keys)
        while rest:
            anchor = rest.pop(0)
            by_name(anchor)
            if found[anchor]:
                break
        if rest:
            folder = object_keys[0].rpartition("/")[0]
            for page in listing(Prefix=f"{folder}/" if folder else "", KeyMarker=anchor):
                collect(page)
                if page.get("NextKeyMarker", "") > rest[-1]:
                    break  # listings are in key order: nothing further is ours
            for key in rest:
                if not found[key]:
                    by_name(key)
        # The latest version last: DeleteObjects deletes in request order, and a server that
        # keeps a "latest version" pointer per key (SeaweedFS) then need not move it to another.
        return {key: sorted(ids, key=ids.__getitem__) for key, ids in found.items()}

    def _delete_versions(self, objects: list[ObjectIdentifierTypeDef]) -> list[ErrorTypeDef]:
        """Delete up to 1,000 object versions in one request; what S3 refused."""
        response = self._s3().delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        return response.get("Errors", [])

    def _batches(self, objects: list[ObjectIdentifierTypeDef]) -> list[list[ObjectIdentifierTypeDef]]:
        return [
            objects[start : start + self._delete_batch]
            for start in range(0, len(objects), self._delete_batch)
        ]

    def _delete(self, key: str) -> int:
        object_key = self._object_key(key)
        deleted = 0
        # Repeat until the listing is empty: a version written while we delete is caught too.
        for _ in range(5):
            versions = self._list_versions([object_key])[object_key]
            if not versions:
                return deleted
            for batch in self._batches([{"Key": object_key, "VersionId": v} for v in versions]):
                errors = self._delete_versions(batch)
                if errors:
                    raise StorageUnavailable(
                        f"S3 refused to delete {len(errors)} version(s) of {key}: {errors[0].get('Code')}"
                    )
                deleted += len(batch)
        raise StorageUnavailable(f"versions of {key} keep appearing while deleting it")

    async def _each(
        self, what: str, function: Callable[[A], T], args: list[A], subjects: list[str]
    ) -> list[T | None]:
        """``function`` on each of ``args`` in threads, a few at a time; None where S3 failed
        (logged, naming the subject) so that the others still count."""
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def one(arg: A, subject: str) -> T:
            async with limit:
                return await self._run(what, subject, function, arg)

        results = await asyncio.gather(
            *(one(arg, subject) for arg, subject in zip(args, subjects, strict=True)), return_exceptions=True
        )
        done: list[T | None] = []
        for subject, result in zip(subjects, results, strict=True):
            if isinstance(result, StorageUnavailable):
                logger.warning("S3 %s of %s failed: %s", what, subject, result)
                done.append(None)
            elif isinstance(result, BaseException):
                raise result
            else:
                done.append(result)
        return done

    # -- the Storage protocol -------------------------------------------------------------

    async def put_file(self, key: str, path: Path) -> StoredObject:
        return await self._run("upload", key, self._put, key, path)

    async def get_to_file(self, key: str, path: Path) -> StoredObject:
        return await self._run("download", key, self._get, key, path)

    async def delete(self, key: str) -> int:
        return await self._run("delete", key, self._delete, key)

    async def delete_many(
        self, keys: Collection[str], *, known_versions: Mapping[str, str] | None = None
    ) -> Deletion:
        by_object_key = {self._object_key(key): key for key in keys}
        known = known_versions or {}
        # A key whose one version is known is deleted by name; only the others are listed.
        versions: dict[str, list[str]] = {
            object_key: [known[key]] for object_key, key in by_object_key.items() if known.get(key)
        }
        # Keys per folder: a batch is mostly a run of neighbours in one, which a few listings cover.
        folders: dict[str, list[str]] = defaultdict(list)
        for object_key in sorted(by_object_key):
            if object_key not in versions:
                folders[object_key.rpartition("/")[0]].append(object_key)
        groups = list(folders.values())
        listings = await self._each("version listing", self._list_versions, groups, [g[0] for g in groups])
        failed: set[str] = set()
        for group, listing in zip(groups, listings, strict=True):
            if listing is None:
                failed.update(group)
            else:
                versions.update(listing)
        batches = self._batches(
            [{"Key": key, "VersionId": version_id} for key, ids in versions.items() for version_id in ids]
        )
        refusals = await self._each(
            "delete", self._delete_versions, batches, [f"{len(batch)} versions" for batch in batches]
        )
        for batch, refused in zip(batches, refusals, strict=True):
            if refused is None:
                failed.update(item["Key"] for item in batch)
            else:
                failed.update(error.get("Key", "") for error in refused)
        return Deletion(
            {key: len(versions.get(object_key, [])) for object_key, key in by_object_key.items()},
            frozenset(by_object_key[key] for key in failed if key in by_object_key),
        )

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFound:
            return False
        return True

    async def head(self, key: str) -> StoredObject:
        return await self._run("head", key, self._head, key)

    def _list(self, prefix: str) -> list[str]:
        start = self._object_key(prefix.rstrip("/")) + "/"
        pages = self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        cut = len(self.prefix) + 1 if self.prefix else 0
        return sorted(item["Key"][cut:] for page in pages for item in page.get("Contents", []))

    async def list_keys(self, prefix: str) -> list[str]:
        return await self._run("list", prefix, self._list, prefix)

    async def stop(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)
