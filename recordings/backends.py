"""Choosing a storage backend from settings: a local directory (``file://``) or S3 (``s3://``).

Apart from ``storage.py`` so that the S3 backend, which builds on ``storage``'s shared pieces, and
the local one are both below the choice (no import cycle)."""

from __future__ import annotations

from recordings.config import RecordingsConfig
from recordings.errors import StorageConfigError
from recordings.s3 import S3Storage
from recordings.storage import LocalStorage, Storage


def storage_from_url(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    server_side_encryption: str | None = None,
    multipart_threshold: int = 16 * 1024 * 1024,
    multipart_chunksize: int = 16 * 1024 * 1024,
) -> Storage:
    """``file://./data/recordings``, ``file:///abs/path`` or ``s3://bucket/prefix``."""
    if url.startswith("file://"):
        root = url.removeprefix("file://")
        if not root:
            raise StorageConfigError("file:// storage URL needs a directory")
        return LocalStorage(root)
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        return S3Storage(
            bucket,
            prefix.strip("/"),
            endpoint_url=endpoint_url,
            region=region,
            server_side_encryption=server_side_encryption,
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
        )
    raise StorageConfigError(f"storage URL must start with file:// or s3://, not {url.split(':', 1)[0]!r}")


def storage_from_config(config: RecordingsConfig) -> Storage:
    """The storage backend ``config`` describes."""
    return storage_from_url(
        config.storage_url,
        endpoint_url=config.s3_endpoint_url,
        region=config.s3_region,
        server_side_encryption=config.s3_server_side_encryption,
        multipart_threshold=config.s3_multipart_threshold,
        multipart_chunksize=config.s3_multipart_chunksize,
    )
