"""Reading a stored recording back as plaintext (for export and playback)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from recordings.config import RecordingsConfig
from recordings.crypto import EncryptedFile, decrypt_file, unwrap_data_key
from recordings.errors import ChecksumMismatch
from recordings.models import Recording
from recordings.storage import Storage


async def fetch_recording(
    storage: Storage, config: RecordingsConfig, recording: Recording, dst: Path
) -> EncryptedFile:
    """Download ``recording``, decrypt it into ``dst`` and check it against the row's checksums.

    Raises ``KeyUnavailable`` for a shredded recording (before downloading anything) and
    ``DecryptionError`` / ``ChecksumMismatch`` when what storage holds is not authentic.
    """
    data_key = unwrap_data_key(
        (config.master_key, *config.retired_master_keys),
        recording.wrapped_key,
        recording.key_id,
        context=recording.id.bytes,
    )
    enc = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.enc")
    try:
        stored = await storage.get_to_file(recording.storage_key, enc)
        if recording.sha256 is not None and stored.sha256 != recording.sha256:
            raise ChecksumMismatch(f"stored object of recording {recording.id} is not the one uploaded")
        result = await asyncio.to_thread(decrypt_file, enc, dst, data_key)
    finally:
        await asyncio.to_thread(enc.unlink, missing_ok=True)
    if recording.plaintext_sha256 is not None and result.plaintext_sha256 != recording.plaintext_sha256:
        await asyncio.to_thread(dst.unlink, missing_ok=True)
        raise ChecksumMismatch(f"decrypted recording {recording.id} differs from what was recorded")
    return result
