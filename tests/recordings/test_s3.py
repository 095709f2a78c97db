"""What only the S3 backend does: multipart, SSE header, checksum verification, every version
deleted, and its failures. Against SeaweedFS (a real S3 server) over HTTP; moto only where a
test injects S3 behaviour."""

from __future__ import annotations

import base64
import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest

from recordings import ChecksumMismatch, S3Storage, StorageUnavailable
from tests.recordings.conftest import MIB, make_s3_storage, write_random


def versions_of(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    return [entry for entry in entries if entry["Key"] == key]


async def test_a_large_file_goes_up_in_parts_and_s3s_composite_checksum_matches(
    s3_endpoint: str, bucket: str, s3: Any, tmp_path: Path
) -> None:
    storage = make_s3_storage(s3_endpoint, bucket)
    src = write_random(tmp_path / "big", 12 * MIB)
    stored = await storage.put_file("big.enc", src)
    await storage.stop()

    head = s3.head_object(Bucket=bucket, Key="recordings/big.enc", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"'), "12 MiB in 5 MiB parts is a three-part upload"
    data = src.read_bytes()
    parts = [data[i : i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
    composite = base64.b64encode(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest())
    # S3 computed this from the parts it received; S3Storage checked it against the file.
    assert head["ChecksumSHA256"].split("-")[0] == composite.decode()
    assert head["Metadata"]["sha256"] == stored.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [1000, 6 * MIB])
async def test_the_server_side_encryption_header_is_sent_when_configured(
    moto_endpoint: str, moto_bucket: str, moto_s3: Any, tmp_path: Path, size: int
) -> None:
    # moto: SeaweedFS answers SSE-S3 with InternalError unless a key service is configured.
    s3_endpoint, bucket, s3 = moto_endpoint, moto_bucket, moto_s3
    encrypted = make_s3_storage(s3_endpoint, bucket, server_side_encryption="AES256")
    await encrypted.put_file("sse.enc", write_random(tmp_path / "in", size))
    await encrypted.stop()
    head = s3.head_object(Bucket=bucket, Key="recordings/sse.enc")
    assert head["ServerSideEncryption"] == "AES256"

    plain = make_s3_storage(s3_endpoint, bucket)
    await plain.put_file("plain.enc", write_random(tmp_path / "in", size))
    await plain.stop()
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="recordings/plain.enc")


async def test_delete_removes_every_version_and_delete_marker_in_batches(
    s3_endpoint: str, bucket: str, s3: Any, tmp_path: Path
) -> None:
    storage = make_s3_storage(s3_endpoint, bucket)
    storage._delete_batch = 2  # production uses S3's maximum of 1,000 per DeleteObjects request
    for n in range(4):
        await storage.put_file("v.enc", write_random(tmp_path / f"in{n}", 100 + n))
    s3.delete_object(Bucket=bucket, Key="recordings/v.enc")  # a delete marker, hiding the versions
    s3.put_object(Bucket=bucket, Key="recordings/v.enc", Body=b"written behind our back")
    await storage.put_file("v.enc.other", write_random(tmp_path / "other", 10))
    assert len(versions_of(s3, bucket, "recordings/v.enc")) == 6

    assert await storage.delete("v.enc") == 6
    await storage.stop()
    assert versions_of(s3, bucket, "recordings/v.enc") == []
    assert len(versions_of(s3, bucket, "recordings/v.enc.other")) == 1


async def test_delete_many_deletes_every_version_of_a_batch_across_listing_pages_and_requests(
    moto_endpoint: str, moto_bucket: str, moto_s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of two entries: the listing's continuation markers are exercised on every key
    # (moto: the page size is injected, which a real server does not let a client do).
    monkeypatch.setenv("MOTO_S3_DEFAULT_MAX_KEYS", "2")
    bucket, s3 = moto_bucket, moto_s3
    storage = make_s3_storage(moto_endpoint, bucket)
    storage._delete_batch = 4  # production uses S3's maximum of 1,000 per DeleteObjects request
    layout = {"a": 0, "b": 3, "c": 1, "d": 0, "e": 2, "f": 1}  # versions per key (b: with a delete marker)
    for name, versions in layout.items():
        for _ in range(versions):
            s3.put_object(Bucket=bucket, Key=f"recordings/2026/11/24/{name}.enc", Body=name.encode())
    s3.delete_object(Bucket=bucket, Key="recordings/2026/11/24/b.enc")
    s3.put_object(Bucket=bucket, Key="recordings/2026/11/24/c.enc.other", Body=b"not ours")
    s3.put_object(Bucket=bucket, Key="recordings/2026/11/24/ca.enc", Body=b"not ours")
    keys = [f"2026/11/24/{name}.enc" for name in layout]

    deletion = await storage.delete_many(keys)
    await storage.stop()

    assert deletion.failed == frozenset()
    assert deletion.versions == {f"2026/11/24/{name}.enc": n + (name == "b") for name, n in layout.items()}
    left = s3.list_object_versions(Bucket=bucket, Prefix="recordings/")
    assert sorted(entry["Key"] for entry in left.get("Versions", [])) == [
        "recordings/2026/11/24/c.enc.other",
        "recordings/2026/11/24/ca.enc",
    ]
    assert left.get("DeleteMarkers", []) == []


async def test_delete_many_reports_the_keys_it_could_not_delete_instead_of_raising() -> None:
    storage = make_s3_storage(f"http://127.0.0.1:{dead_port()}", "loket-nowhere")
    deletion = await storage.delete_many(["2026/11/24/a.enc", "2026/11/25/b.enc"])
    await storage.stop()
    assert deletion.failed == {"2026/11/24/a.enc", "2026/11/25/b.enc"}
    assert deletion.versions == {"2026/11/24/a.enc": 0, "2026/11/25/b.enc": 0}


async def test_delete_works_on_a_bucket_without_versioning(s3_endpoint: str, s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="loket-unversioned")
    storage = make_s3_storage(s3_endpoint, "loket-unversioned")
    await storage.put_file("u.enc", write_random(tmp_path / "in", 10))
    assert await storage.delete("u.enc") == 1
    assert not await storage.exists("u.enc")
    await storage.stop()


@pytest.mark.parametrize("size", [1000, 12 * MIB])
async def test_reading_back_verifies_an_upload_as_well(
    s3_endpoint: str, bucket: str, tmp_path: Path, size: int
) -> None:
    storage = make_s3_storage(s3_endpoint, bucket, verify_by_reading=True)
    src = write_random(tmp_path / "in", size)
    stored = await storage.put_file("rb.enc", src)
    assert stored.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    await storage.stop()


class CorruptingS3Storage(S3Storage):
    """The file changes on disk between being hashed and being sent (a failing disk)."""

    def _local_checksum(self, path: Path) -> tuple[int, str, str]:
        result = super()._local_checksum(path)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        return result


@pytest.mark.parametrize("size", [1000, 12 * MIB])
async def test_an_upload_that_differs_from_the_hashed_file_is_refused(
    s3_endpoint: str, bucket: str, tmp_path: Path, size: int
) -> None:
    storage = CorruptingS3Storage(
        bucket,
        "recordings",
        endpoint_url=s3_endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        multipart_threshold=5 * MIB,
        multipart_chunksize=5 * MIB,
    )
    with pytest.raises(ChecksumMismatch):
        await storage.put_file("bad.enc", write_random(tmp_path / "in", size))
    await storage.stop()


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_s3_is_reported_as_unavailable(tmp_path: Path) -> None:
    storage = make_s3_storage(f"http://127.0.0.1:{dead_port()}", "loket-nowhere")
    src = write_random(tmp_path / "in", 10)
    with pytest.raises(StorageUnavailable):
        await storage.put_file("k.enc", src)
    with pytest.raises(StorageUnavailable):
        await storage.head("k.enc")
    with pytest.raises(StorageUnavailable):
        await storage.delete("k.enc")
    await storage.stop()


async def test_a_missing_bucket_is_reported_as_unavailable_not_as_a_missing_object(
    s3_endpoint: str, tmp_path: Path
) -> None:
    storage = make_s3_storage(s3_endpoint, "loket-no-such-bucket")
    with pytest.raises(StorageUnavailable):
        await storage.put_file("k.enc", write_random(tmp_path / "in", 10))
    with pytest.raises(StorageUnavailable):
        await storage.get_to_file("k.enc", tmp_path / "out")
    with pytest.raises(StorageUnavailable):
        await storage.delete("k.enc")
    await storage.stop()
