"""Recordings: storage backends (local, S3) with batch deletion, per-recording encryption, the
catalogue, the upload pipeline (spool -> encrypt -> upload -> verify), playback fetches and shredding.
"""

from recordings.backends import storage_from_config, storage_from_url
from recordings.config import RecordingsConfig, parse_master_key
from recordings.crypto import EncryptedFile, WrappedKey, decrypt_file, encrypt_file, key_id_of
from recordings.errors import (
    ChecksumMismatch,
    DecryptionError,
    InvalidStorageKey,
    KeyUnavailable,
    LegalHold,
    ObjectNotFound,
    RecordingNotFound,
    RecordingsError,
    SpoolFileMissing,
    StorageConfigError,
    StorageUnavailable,
)
from recordings.export import fetch_recording
from recordings.models import Participant, Recording, RecordingStatus
from recordings.queries import create_recording, get_recording, mark_spooled
from recordings.s3 import S3Storage
from recordings.shred import shred_recording
from recordings.storage import LocalStorage, Storage, StoredObject
from recordings.types import EventHook
from recordings.uploader import retry_pending_uploads, store_recording

__all__ = [
    "ChecksumMismatch",
    "DecryptionError",
    "EncryptedFile",
    "EventHook",
    "InvalidStorageKey",
    "KeyUnavailable",
    "LegalHold",
    "LocalStorage",
    "ObjectNotFound",
    "Participant",
    "Recording",
    "RecordingNotFound",
    "RecordingStatus",
    "RecordingsConfig",
    "RecordingsError",
    "S3Storage",
    "SpoolFileMissing",
    "Storage",
    "StorageConfigError",
    "StorageUnavailable",
    "StoredObject",
    "WrappedKey",
    "create_recording",
    "decrypt_file",
    "encrypt_file",
    "fetch_recording",
    "get_recording",
    "key_id_of",
    "mark_spooled",
    "parse_master_key",
    "retry_pending_uploads",
    "shred_recording",
    "storage_from_config",
    "storage_from_url",
    "store_recording",
]
