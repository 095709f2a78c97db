"""Where encrypted recordings live: one ``Storage`` protocol, a local directory and S3.

Both backends behave the same and are run through one behaviour suite
(``tests/recordings/test_storage.py``). Every method is async and does its blocking work
(file I/O, boto3) in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from recordings.errors import ChecksumMismatch, InvalidStorageKey, ObjectNotFound

if TYPE_CHECKING:
    pass

# Segments start with a letter or digit: no "..", no hidden names (our temporary files are
# ".name.partial"), nothing a shell or an S3 console would show oddly.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]*(?:/[A-Za-z0-9][A-Za-z0-9._=-]*)*")
MAX_KEY_LENGTH = 512
_COPY_BUFFER = 1024 * 1024


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise ``InvalidStorageKey``."""
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidStorageKey(f"invalid storage key: {key[:80]!r}")
    return key


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object as the backend holds it.

    ``sha256`` is the hex SHA-256 of the stored bytes; ``None`` only from ``head`` on an
    object some other tool wrote without our metadata. ``etag`` is the backend's own tag
    (S3's ETag, ``None`` for the local directory); ``version_id`` the version a ``put_file``
    wrote (S3's VersionId on a versioned bucket; ``None`` where there are no versions).
    """

    key: str
    bytes: int
    sha256: str | None
    etag: str | None = None
    version_id: str | None = None

    def __post_init__(self) -> None:
        if self.bytes < 0:
            raise ValueError("bytes must not be negative")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True, slots=True)
class Deletion:
    """What ``delete_many`` did: the versions deleted per key (0 where there was none), and the
    keys of which a copy may be left because the backend refused or could not be reached (worth
    retrying later)."""

    versions: Mapping[str, int]
    failed: frozenset[str] = field(default_factory=frozenset)


class Storage(Protocol):
    """An object store for recordings. Keys are relative paths checked by ``check_key``."""

    async def put_file(self, key: str, path: Path) -> StoredObject:
        """Store the file at ``path`` under ``key`` (replacing it), then verify what the
        backend holds against the SHA-256 of ``path``; raise ``ChecksumMismatch`` if it differs."""
        ...

    async def get_to_file(self, key: str, path: Path) -> StoredObject:
        """Write the object to ``path`` (which appears only once complete and verified)."""
        ...

    async def delete(self, key: str) -> int:
        """Delete the object and every older version of it; returns how many went (0 if none)."""
        ...

    async def delete_many(
        self, keys: Collection[str], *, known_versions: Mapping[str, str] | None = None
    ) -> Deletion:
        """Delete every version of each of ``keys``, many keys per request where the backend
        allows. A key the backend could not (all) delete is in ``failed`` rather than raised;
        ``InvalidStorageKey`` is raised before anything is deleted.

        ``known_versions`` names, for some of the keys, the one version the key holds (the
        caller knows nothing else was ever written under it): that version is deleted without
        listing the key's versions. The other keys are listed."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder, ``a/b/``), sorted; for the privacy ledger."""
        ...

    async def head(self, key: str) -> StoredObject:
        """Size and checksum of the object; ``ObjectNotFound`` if there is none."""
        ...

    async def stop(self) -> None:
        """Release connections; idempotent."""
        ...


def sha256_file(path: Path) -> tuple[int, str]:
    """Size and hex SHA-256 of a file, read in 1 MiB blocks (blocking)."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as reader:
        while block := reader.read(_COPY_BUFFER):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _copy_hashing(reader: BinaryIO, dst: Path) -> tuple[int, str]:
    """Copy ``reader`` into ``dst`` via a temporary name and fsync; returns size and SHA-256."""
    digest, size = hashlib.sha256(), 0
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.partial")
    try:
        with tmp.open("wb") as writer:
            while block := reader.read(_COPY_BUFFER):
                digest.update(block)
                writer.write(block)
                size += len(block)
            writer.flush()
            os.fsync(writer.fileno())
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    return size, digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once its directory entry is (POSIX fsync(2) on the directory).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """Objects as files under ``root`` (the embedded default, ``file://./data/recordings``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _put(self, key: str, src: Path) -> StoredObject:
        dst = self._path(key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with src.open("rb") as reader:
            size, digest = _copy_hashing(reader, dst)
        _fsync_dir(dst.parent)
        # Read back what landed on disk, as S3Storage compares with what S3 holds.
        stored_size, stored_digest = sha256_file(dst)
        if (stored_size, stored_digest) != (size, digest):
            raise ChecksumMismatch(f"stored copy of {key} differs from the source file")
        return StoredObject(key, size, digest)

    def _get(self, key: str, dst: Path) -> StoredObject:
        src = self._path(key)
        try:
            reader = src.open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"no object {key}") from exc
        with reader:
            size, digest = _copy_hashing(reader, dst)
        return StoredObject(key, size, digest)

    def _delete(self, key: str) -> int:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return 0
        return 1

    def _delete_many(self, keys: Collection[str]) -> Deletion:
        for key in keys:
            check_key(key)
        return Deletion({key: self._delete(key) for key in keys})

    def _head(self, key: str) -> StoredObject:
        try:
            size, digest = sha256_file(self._path(key))
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"no object {key}") from exc
        return StoredObject(key, size, digest)

    async def put_file(self, key: str, path: Path) -> StoredObject:
        return await asyncio.to_thread(self._put, key, path)

    async def get_to_file(self, key: str, path: Path) -> StoredObject:
        return await asyncio.to_thread(self._get, key, path)

    async def delete(self, key: str) -> int:
        return await asyncio.to_thread(self._delete, key)

    async def delete_many(
        self, keys: Collection[str], *, known_versions: Mapping[str, str] | None = None
    ) -> Deletion:
        # A directory keeps no versions: there is nothing to list either way.
        return await asyncio.to_thread(self._delete_many, keys)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def head(self, key: str) -> StoredObject:
        return await asyncio.to_thread(self._head, key)

    def _list(self, prefix: str) -> list[str]:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        keys = (path.relative_to(self.root).as_posix() for path in folder.rglob("*") if path.is_file())
        return sorted(key for key in keys if not key.rsplit("/", 1)[-1].startswith("."))

    async def list_keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    async def stop(self) -> None:
        return None
