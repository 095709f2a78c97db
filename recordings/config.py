"""Settings of the recordings package, built once by the shell and passed in."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path

MASTER_KEY_BYTES = 32
MIB = 1024 * 1024


def parse_master_key(value: str) -> bytes:
    """Decode ``LOKET_MASTER_KEY``: 32 bytes in standard or URL-safe base64, padding optional.

    Generate one with::

        python -c "import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"
    """
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("LOKET_MASTER_KEY is not valid base64") from exc
    if len(key) != MASTER_KEY_BYTES:
        raise ValueError(f"LOKET_MASTER_KEY must decode to {MASTER_KEY_BYTES} bytes, not {len(key)}")
    return key


@dataclass(frozen=True, slots=True)
class RecordingsConfig:
    """Where recordings are spooled and stored, the master key, and the upload retry policy.

    ``master_key`` wraps every new recording's data key; ``retired_master_keys`` can still
    unwrap older ones (key rotation). Neither ever appears in a repr.
    """

    master_key: bytes = field(repr=False)
    retired_master_keys: tuple[bytes, ...] = field(default=(), repr=False)
    storage_url: str = "file://./data/recordings"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # "AES256" or "aws:kms"; None sends no x-amz-server-side-encryption header.
    s3_server_side_encryption: str | None = None
    s3_multipart_threshold: int = 16 * MIB
    s3_multipart_chunksize: int = 16 * MIB
    spool_dir: Path = Path("./data/spool")
    # Plaintext bytes per AEAD chunk (the ciphertext adds 16 bytes of tag per chunk).
    chunk_size: int = 64 * 1024
    # Renewed every third of its length while an upload runs (db.jobs.lease_kept).
    upload_lease_seconds: float = 300.0
    # A failed upload waits base, 2 * base, 4 * base, ... up to the maximum (db.jobs.backoff).
    retry_base_seconds: float = 15.0
    retry_max_seconds: float = 3600.0

    def __post_init__(self) -> None:
        for key in (self.master_key, *self.retired_master_keys):
            if len(key) != MASTER_KEY_BYTES:
                raise ValueError(f"a master key must be {MASTER_KEY_BYTES} bytes")
        if not 1024 <= self.chunk_size <= 16 * MIB:
            raise ValueError("chunk_size must be between 1 KiB and 16 MiB")
        if self.upload_lease_seconds <= 0:
            raise ValueError("upload_lease_seconds must be positive")
        if not 0 < self.retry_base_seconds <= self.retry_max_seconds:
            raise ValueError("need 0 < retry_base_seconds <= retry_max_seconds")
        if self.s3_server_side_encryption not in (None, "AES256", "aws:kms", "aws:kms:dsse"):
            raise ValueError("s3_server_side_encryption must be AES256, aws:kms, aws:kms:dsse or unset")
