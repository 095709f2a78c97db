"""Errors the recordings package raises; each carries a stable code for the API edge."""

from __future__ import annotations

from db import LoketError


class RecordingsError(LoketError):
    code = "recordings_error"
    status = 500


class StorageConfigError(RecordingsError):
    """A storage URL or option that cannot work (caught at start-up)."""

    code = "storage_config"


class InvalidStorageKey(RecordingsError):
    code = "invalid_storage_key"
    status = 400


class StorageUnavailable(RecordingsError):
    """The storage backend could not be reached or refused the request; worth retrying."""

    code = "storage_unavailable"
    status = 503


class ObjectNotFound(RecordingsError):
    code = "object_not_found"
    status = 404


class ChecksumMismatch(RecordingsError):
    """What the backend holds is not byte-for-byte what was written."""

    code = "checksum_mismatch"


class DecryptionError(RecordingsError):
    """A recording's ciphertext or its wrapped key is not authentic (tampered, truncated, wrong key)."""

    code = "decryption_failed"


class KeyUnavailable(RecordingsError):
    """No master key can unwrap this recording's data key: it was shredded or the key is gone."""

    code = "key_unavailable"
    status = 410


class RecordingNotFound(RecordingsError):
    code = "recording_not_found"
    status = 404


class SpoolFileMissing(RecordingsError):
    """The spooled media file is gone before it was stored: this recording can never be uploaded."""

    code = "spool_file_missing"


class LegalHold(RecordingsError):
    """The recording is under legal hold and must not be deleted or shredded."""

    code = "legal_hold"
    status = 409
