"""Per-recording envelope encryption.

Every recording gets its own random 256-bit data key. The file is encrypted in chunks with
AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár: "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015, §7; the same
shape as age and Tink's streaming AEAD): chunk *i* uses the nonce ``prefix || i`` and the
associated data ``header || last-flag``, so reordered, dropped, truncated or appended chunks
fail authentication, not just flipped bits. The header (format version, chunk size, nonce
prefix) is bound to every chunk through the associated data.

The data key is wrapped with the master key (AES-256-GCM, NIST SP 800-38D) bound to the
recording's id and the master key's id, and stored on the recording row, never next to the
object. Removing the wrapped key from the row therefore crypto-shreds every copy of the
object, backups and old object versions included.

Everything here is blocking: call it through ``asyncio.to_thread``. Memory use is two chunks
whatever the file size.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recordings.errors import DecryptionError, KeyUnavailable

DATA_KEY_BYTES = 32
TAG_BYTES = 16
MAX_CHUNK_SIZE = 16 * 1024 * 1024
# magic, format version, plaintext chunk size, nonce prefix: 16 bytes in front of the chunks.
_HEADER = struct.Struct(">3sBI8s")
HEADER_BYTES = _HEADER.size
_MAGIC = b"LKR"
_FORMAT_VERSION = 1
_LAST = b"\x01"
_NOT_LAST = b"\x00"
# 96-bit GCM nonce = 8-byte random prefix || 32-bit big-endian chunk counter.
_MAX_CHUNKS = 2**32
_WRAP_VERSION = b"\x01"
_WRAP_NONCE_BYTES = 12
_WRAP_LABEL = b"loket/recording-data-key/v1"
_KEY_ID_LABEL = b"loket/master-key-id/v1"


@dataclass(frozen=True, slots=True)
class EncryptedFile:
    """What encrypting one file produced: sizes and SHA-256 of both sides."""

    bytes: int
    sha256: str
    plaintext_bytes: int
    plaintext_sha256: str


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key wrapped by the master key ``key_id``; safe to store in the database."""

    key_id: str
    wrapped: bytes

    def __post_init__(self) -> None:
        if len(self.wrapped) != 1 + _WRAP_NONCE_BYTES + DATA_KEY_BYTES + TAG_BYTES:
            raise ValueError("a wrapped key has the wrong length")


def key_id_of(master_key: bytes) -> str:
    """A short public id of a master key (an HMAC, so it reveals nothing about the key)."""
    return hmac.new(master_key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def _wrap_aad(key_id: str, context: bytes) -> bytes:
    return b"\x00".join((_WRAP_LABEL, key_id.encode(), context))


def wrap_data_key(master_key: bytes, data_key: bytes, *, context: bytes) -> WrappedKey:
    """Wrap ``data_key`` with ``master_key``; ``context`` (the recording id) must be given to unwrap."""
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError("a data key is 32 bytes")
    key_id = key_id_of(master_key)
    nonce = secrets.token_bytes(_WRAP_NONCE_BYTES)
    sealed = AESGCM(master_key).encrypt(nonce, data_key, _wrap_aad(key_id, context))
    return WrappedKey(key_id, _WRAP_VERSION + nonce + sealed)


def unwrap_data_key(
    master_keys: Iterable[bytes], wrapped: bytes | None, key_id: str | None, *, context: bytes
) -> bytes:
    """Unwrap with whichever of ``master_keys`` has ``key_id``.

    Raises ``KeyUnavailable`` when the wrapped key is gone (shredded) or no master key
    matches, and ``DecryptionError`` when the wrapped key is not authentic for ``context``.
    """
    if wrapped is None or key_id is None:
        raise KeyUnavailable("the recording's data key was shredded")
    master = next((key for key in master_keys if hmac.compare_digest(key_id_of(key), key_id)), None)
    if master is None:
        raise KeyUnavailable(f"no configured master key has id {key_id}")
    if len(wrapped) < 1 + _WRAP_NONCE_BYTES or wrapped[:1] != _WRAP_VERSION:
        raise DecryptionError("unknown wrapped-key format")
    nonce, sealed = wrapped[1 : 1 + _WRAP_NONCE_BYTES], wrapped[1 + _WRAP_NONCE_BYTES :]
    try:
        return AESGCM(master).decrypt(nonce, sealed, _wrap_aad(key_id, context))
    except InvalidTag as exc:
        raise DecryptionError("the wrapped data key does not unwrap with this master key") from exc


def _nonce(prefix: bytes, counter: int) -> bytes:
    if counter >= _MAX_CHUNKS:
        raise ValueError("file too large for one STREAM")
    return prefix + counter.to_bytes(4, "big")


def _fsync_replace(tmp: Path, dst: Path, handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    tmp.replace(dst)


def encrypt_file(src: Path, dst: Path, data_key: bytes, *, chunk_size: int = 64 * 1024) -> EncryptedFile:
    """Encrypt ``src`` into ``dst`` (written to a temporary name, then renamed)."""
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError("chunk_size out of range")
    aead = AESGCM(data_key)
    header = _HEADER.pack(_MAGIC, _FORMAT_VERSION, chunk_size, secrets.token_bytes(8))
    prefix = header[-8:]
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    plain_bytes = 0
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.partial")
    try:
        with src.open("rb") as reader, tmp.open("wb") as writer:
            writer.write(header)
            cipher_hash.update(header)
            cipher_bytes = len(header)
            counter = 0
            chunk = reader.read(chunk_size)
            while True:
                # Read ahead one chunk: the last chunk is the one with nothing after it (an
                # empty file is one empty last chunk).
                following = reader.read(chunk_size)
                last = not following
                sealed = aead.encrypt(_nonce(prefix, counter), chunk, header + (_LAST if last else _NOT_LAST))
                writer.write(sealed)
                plain_hash.update(chunk)
                cipher_hash.update(sealed)
                plain_bytes += len(chunk)
                cipher_bytes += len(sealed)
                if last:
                    break
                chunk, counter = following, counter + 1
            _fsync_replace(tmp, dst, writer)
    finally:
        tmp.unlink(missing_ok=True)
    return EncryptedFile(cipher_bytes, cipher_hash.hexdigest(), plain_bytes, plain_hash.hexdigest())


def decrypt_file(src: Path, dst: Path, data_key: bytes) -> EncryptedFile:
    """Decrypt ``src`` into ``dst``; ``dst`` only appears once every chunk authenticated.

    Raises ``DecryptionError`` on any tampering: a changed byte, a dropped, swapped or
    appended chunk, a truncation (even exactly at a chunk boundary), or the wrong key.
    """
    aead = AESGCM(data_key)
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    plain_bytes = cipher_bytes = 0
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.partial")
    try:
        with src.open("rb") as reader, tmp.open("wb") as writer:
            header = reader.read(_HEADER.size)
            if len(header) != _HEADER.size:
                raise DecryptionError("not a Loket recording: header truncated")
            magic, version, chunk_size, prefix = _HEADER.unpack(header)
            if magic != _MAGIC or version != _FORMAT_VERSION:
                raise DecryptionError("not a Loket recording or an unknown format version")
            if not 0 < chunk_size <= MAX_CHUNK_SIZE:
                raise DecryptionError("corrupt header: chunk size out of range")
            cipher_hash.update(header)
            cipher_bytes = len(header)
            sealed_size = chunk_size + TAG_BYTES
            counter = 0
            sealed = reader.read(sealed_size)
            while True:
                following = reader.read(sealed_size)
                last = not following
                try:
                    chunk = aead.decrypt(
                        _nonce(prefix, counter), sealed, header + (_LAST if last else _NOT_LAST)
                    )
                except InvalidTag as exc:
                    raise DecryptionError(
                        f"chunk {counter} failed authentication (tampered, truncated, reordered or wrong key)"
                    ) from exc
                writer.write(chunk)
                plain_hash.update(chunk)
                cipher_hash.update(sealed)
                plain_bytes += len(chunk)
                cipher_bytes += len(sealed)
                if last:
                    break
                sealed, counter = following, counter + 1
            _fsync_replace(tmp, dst, writer)
    finally:
        tmp.unlink(missing_ok=True)
    return EncryptedFile(cipher_bytes, cipher_hash.hexdigest(), plain_bytes, plain_hash.hexdigest())
