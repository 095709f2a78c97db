"""Errors the recordings package raises; each carries a stable code for the API edge.

A kind is declared in one line, its code and HTTP status as class arguments
(``class ObjectNotFound(RecordingsError, code="object_not_found", status=404)``); without a
status it is ours to fix (500).
"""

from __future__ import annotations

from typing import Any

from db import LoketError


class RecordingsError(LoketError):
    code = "recordings_error"
    status = 500

    def __init_subclass__(cls, *, code: str | None = None, status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if status is not None:
            cls.status = status


class StorageConfigError(RecordingsError, code="storage_config"):
    """A storage URL or option that cannot work (caught at start-up)."""


class InvalidStorageKey(RecordingsError, code="invalid_storage_key", status=400):
    """An object key that is not a safe relative path."""


class StorageUnavailable(RecordingsError, code="storage_unavailable", status=503):
    """The storage backend could not be reached or refused the request; worth retrying."""


class ObjectNotFound(RecordingsError, code="object_not_found", status=404):
    """The storage backend holds no object under the key."""


class ChecksumMismatch(RecordingsError, code="checksum_mismatch"):
    """What the backend holds is not byte-for-byte what was written."""


class DecryptionError(RecordingsError, code="decryption_failed"):
    """A recording's ciphertext or its wrapped key is not authentic (tampered, truncated, wrong key)."""


class KeyUnavailable(RecordingsError, code="key_unavailable", status=410):
    """No master key can unwrap this recording's data key: it was shredded or the key is gone."""


class RecordingNotFound(RecordingsError, code="recording_not_found", status=404):
    """No recording with this id (in this organisation)."""


class SpoolFileMissing(RecordingsError, code="spool_file_missing"):
    """The spooled media file is gone before it was stored: this recording can never be uploaded."""


class LegalHold(RecordingsError, code="legal_hold", status=409):
    """The recording is under legal hold and must not be deleted or shredded."""
