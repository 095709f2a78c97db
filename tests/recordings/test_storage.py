"""One behaviour suite for every storage backend: the local directory and S3 (moto over HTTP)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recordings import (
    InvalidStorageKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    StorageConfigError,
    storage_from_url,
)
from tests.recordings.conftest import MIB, entries, write_random


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("size", [0, 1, 70_000, 12 * MIB])
async def test_a_stored_file_comes_back_byte_for_byte(storage: Storage, tmp_path: Path, size: int) -> None:
    # 12 MiB crosses the 5 MiB multipart threshold of the S3 backend under test.
    src = write_random(tmp_path / "in.bin", size)
    stored = await storage.put_file("2026/11/24/a.webm.enc", src)
    assert (stored.key, stored.bytes, stored.sha256) == ("2026/11/24/a.webm.enc", size, sha256_of(src))

    head = await storage.head("2026/11/24/a.webm.enc")
    assert (head.bytes, head.sha256) == (size, stored.sha256)
    assert await storage.exists("2026/11/24/a.webm.enc")

    out = tmp_path / "out.bin"
    got = await storage.get_to_file("2026/11/24/a.webm.enc", out)
    assert out.read_bytes() == src.read_bytes()
    assert (got.bytes, got.sha256) == (size, stored.sha256)


async def test_putting_a_key_again_replaces_its_content(storage: Storage, tmp_path: Path) -> None:
    await storage.put_file("k.enc", write_random(tmp_path / "one", 1000))
    second = write_random(tmp_path / "two", 2000)
    await storage.put_file("k.enc", second)
    assert (await storage.head("k.enc")).sha256 == sha256_of(second)
    await storage.get_to_file("k.enc", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == second.read_bytes()


async def test_a_missing_object_is_reported_as_missing(storage: Storage, tmp_path: Path) -> None:
    assert not await storage.exists("nope.enc")
    with pytest.raises(ObjectNotFound):
        await storage.head("nope.enc")
    with pytest.raises(ObjectNotFound):
        await storage.get_to_file("nope.enc", tmp_path / "out")
    # Nothing half-written is left where the download was to go.
    assert entries(tmp_path) == []
    assert await storage.delete("nope.enc") == 0


async def test_deleting_an_object_removes_every_copy(storage: Storage, tmp_path: Path) -> None:
    # Two writes: on a versioned bucket that is two versions, and both must go.
    await storage.put_file("gone.enc", write_random(tmp_path / "one", 100))
    await storage.put_file("gone.enc", write_random(tmp_path / "two", 100))
    await storage.put_file("gone.enc.keep", write_random(tmp_path / "three", 100))
    assert await storage.delete("gone.enc") >= 1
    assert not await storage.exists("gone.enc")
    with pytest.raises(ObjectNotFound):
        await storage.get_to_file("gone.enc", tmp_path / "out")
    # A key that merely starts with the deleted one is untouched.
    assert await storage.exists("gone.enc.keep")
    assert await storage.delete("gone.enc") == 0


async def test_deleting_many_objects_removes_every_copy_of_each_and_counts_them(
    storage: Storage, tmp_path: Path
) -> None:
    keys = [f"2026/11/{day}/{name}.enc" for day in (24, 25) for name in "abc"]
    for n, key in enumerate(keys[:-1]):  # the last key has no object
        for write in range(1 + n % 2):  # every other key written twice: two versions on S3
            await storage.put_file(key, write_random(tmp_path / f"in{n}-{write}", 100))
    await storage.put_file("2026/11/24/a.enc.keep", write_random(tmp_path / "keep", 100))

    deletion = await storage.delete_many(keys)

    assert deletion.failed == frozenset()
    assert set(deletion.versions) == set(keys)
    assert all(deletion.versions[key] >= 1 for key in keys[:-1]) and deletion.versions[keys[-1]] == 0
    assert [key for key in keys if await storage.exists(key)] == []
    # A key that merely starts with a deleted one is untouched; deleting again finds nothing.
    assert await storage.exists("2026/11/24/a.enc.keep")
    again = await storage.delete_many(keys)
    assert again.versions == dict.fromkeys(keys, 0) and again.failed == frozenset()
    assert (await storage.delete_many([])).versions == {}


@pytest.mark.parametrize(
    "key", ["", "../escape", "/abs/olute", "a//b", ".hidden", "a/../b", "a b", "x" * 600]
)
async def test_unsafe_keys_are_refused_by_every_operation(storage: Storage, tmp_path: Path, key: str) -> None:
    src = write_random(tmp_path / "in", 10)
    with pytest.raises(InvalidStorageKey):
        await storage.put_file(key, src)
    with pytest.raises(InvalidStorageKey):
        await storage.get_to_file(key, tmp_path / "out")
    with pytest.raises(InvalidStorageKey):
        await storage.head(key)
    with pytest.raises(InvalidStorageKey):
        await storage.exists(key)
    with pytest.raises(InvalidStorageKey):
        await storage.delete(key)
    with pytest.raises(InvalidStorageKey):
        await storage.delete_many(["fine.enc", key])


async def test_stop_is_idempotent(storage: Storage, tmp_path: Path) -> None:
    await storage.put_file("k.enc", write_random(tmp_path / "in", 10))
    await storage.stop()
    await storage.stop()


def test_storage_urls_choose_the_backend(tmp_path: Path) -> None:
    relative = storage_from_url("file://./data/recordings")
    assert isinstance(relative, LocalStorage)
    assert relative.root == (Path.cwd() / "data/recordings").resolve()
    absolute = storage_from_url(f"file://{tmp_path}/rec")
    assert isinstance(absolute, LocalStorage) and absolute.root == tmp_path / "rec"

    s3 = storage_from_url(
        "s3://loket-recordings/eu/prod/",
        endpoint_url="http://minio:9000",
        server_side_encryption="AES256",
    )
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.endpoint_url, s3.server_side_encryption) == (
        "loket-recordings",
        "eu/prod",
        "http://minio:9000",
        "AES256",
    )
    for bad in ("ftp://x/y", "file://", "s3://UPPER_case/x", "s3://"):
        with pytest.raises(StorageConfigError):
            storage_from_url(bad)
