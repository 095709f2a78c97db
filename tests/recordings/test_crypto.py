"""Per-recording envelope encryption: round trips, tamper detection, key wrapping, master keys."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tracemalloc
from pathlib import Path

import pytest

from recordings import (
    DecryptionError,
    KeyUnavailable,
    RecordingsConfig,
    decrypt_file,
    encrypt_file,
    key_id_of,
)
from recordings.config import parse_master_key
from recordings.crypto import HEADER_BYTES, TAG_BYTES, new_data_key, unwrap_data_key, wrap_data_key

CHUNK = 1024


def encrypt(tmp_path: Path, plaintext: bytes, key: bytes, chunk: int = CHUNK) -> Path:
    src, enc = tmp_path / "plain", tmp_path / "plain.enc"
    src.write_bytes(plaintext)
    encrypt_file(src, enc, key, chunk_size=chunk)
    return enc


def chunks_of(enc: Path, chunk: int = CHUNK) -> tuple[bytes, list[bytes]]:
    data = enc.read_bytes()
    sealed = chunk + TAG_BYTES
    body = data[HEADER_BYTES:]
    return data[:HEADER_BYTES], [body[i : i + sealed] for i in range(0, len(body), sealed)]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 200_003])
def test_a_file_decrypts_to_exactly_what_was_encrypted(tmp_path: Path, size: int) -> None:
    key = new_data_key()
    plaintext = os.urandom(size)
    src, enc, out = tmp_path / "plain", tmp_path / "plain.enc", tmp_path / "out"
    src.write_bytes(plaintext)
    encrypted = encrypt_file(src, enc, key, chunk_size=CHUNK)

    chunks = max(1, -(-size // CHUNK))
    assert encrypted.bytes == enc.stat().st_size == HEADER_BYTES + size + chunks * TAG_BYTES
    assert encrypted.sha256 == hashlib.sha256(enc.read_bytes()).hexdigest()
    assert (encrypted.plaintext_bytes, encrypted.plaintext_sha256) == (
        size,
        hashlib.sha256(plaintext).hexdigest(),
    )

    decrypted = decrypt_file(enc, out, key)
    assert out.read_bytes() == plaintext
    assert decrypted == encrypted


def test_the_ciphertext_reveals_nothing_of_the_plaintext(tmp_path: Path) -> None:
    plaintext = b"visitor says: my licence plate is AB-123-C. " * 500
    enc = encrypt(tmp_path, plaintext, new_data_key())
    assert b"licence plate" not in enc.read_bytes()
    # Two encryptions of the same file with the same key still differ (random nonce prefix).
    again = tmp_path / "again.enc"
    encrypt_file(tmp_path / "plain", again, key := new_data_key(), chunk_size=CHUNK)
    other = tmp_path / "other.enc"
    encrypt_file(tmp_path / "plain", other, key, chunk_size=CHUNK)
    assert again.read_bytes() != other.read_bytes()


def tampered_variants(enc: Path) -> dict[str, bytes]:
    header, chunks = chunks_of(enc)
    assert len(chunks) == 4
    flip = bytearray(enc.read_bytes())
    flip[HEADER_BYTES + CHUNK + 20] ^= 0x01
    flip_tag = bytearray(enc.read_bytes())
    flip_tag[HEADER_BYTES + CHUNK + TAG_BYTES - 1] ^= 0x80
    flip_header = bytearray(enc.read_bytes())
    flip_header[5] ^= 0x01  # the chunk size: authenticated as associated data of every chunk
    return {
        "flipped byte": bytes(flip),
        "flipped tag": bytes(flip_tag),
        "flipped header": bytes(flip_header),
        "truncated mid-chunk": enc.read_bytes()[:-7],
        "truncated at a chunk boundary": header + b"".join(chunks[:3]),
        "only the header": header,
        "empty": b"",
        "chunks swapped": header + chunks[0] + chunks[2] + chunks[1] + chunks[3],
        "chunk dropped": header + chunks[0] + chunks[2] + chunks[3],
        "chunk duplicated": header + chunks[0] + chunks[0] + chunks[1] + chunks[2] + chunks[3],
        "bytes appended": enc.read_bytes() + b"\x00" * 40,
        "last chunk appended twice": enc.read_bytes() + chunks[3],
    }


@pytest.mark.parametrize(
    "variant",
    [
        "flipped byte",
        "flipped tag",
        "flipped header",
        "truncated mid-chunk",
        "truncated at a chunk boundary",
        "only the header",
        "empty",
        "chunks swapped",
        "chunk dropped",
        "chunk duplicated",
        "bytes appended",
        "last chunk appended twice",
    ],
)
def test_any_tampering_is_detected_and_no_plaintext_file_appears(tmp_path: Path, variant: str) -> None:
    key = new_data_key()
    plaintext = os.urandom(3 * CHUNK + 100)  # four chunks, the last one short
    enc = encrypt(tmp_path, plaintext, key)
    bad = tmp_path / "bad.enc"
    bad.write_bytes(tampered_variants(enc)[variant])
    out = tmp_path / "out"
    with pytest.raises(DecryptionError):
        decrypt_file(bad, out, key)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.enc", "plain", "plain.enc"]


def test_a_different_data_key_cannot_decrypt(tmp_path: Path) -> None:
    enc = encrypt(tmp_path, os.urandom(5000), new_data_key())
    with pytest.raises(DecryptionError):
        decrypt_file(enc, tmp_path / "out", new_data_key())


def test_encryption_streams_in_constant_memory(tmp_path: Path) -> None:
    src = tmp_path / "big"
    with src.open("wb") as out:
        for _ in range(32):
            out.write(os.urandom(1024 * 1024))
    key = new_data_key()
    tracemalloc.start()
    try:
        encrypt_file(src, tmp_path / "big.enc", key, chunk_size=64 * 1024)
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        decrypt_file(tmp_path / "big.enc", tmp_path / "big.out", key)
        _, decrypt_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A 32 MiB file through 64 KiB chunks: a few chunks in memory at once, never the file.
    assert encrypt_peak < 1024 * 1024, encrypt_peak
    assert decrypt_peak < 1024 * 1024, decrypt_peak
    assert (
        hashlib.sha256(src.read_bytes()).digest()
        == hashlib.sha256((tmp_path / "big.out").read_bytes()).digest()
    )


def test_a_wrapped_key_unwraps_only_with_its_master_key_and_recording() -> None:
    master, other = secrets.token_bytes(32), secrets.token_bytes(32)
    data_key = new_data_key()
    context = secrets.token_bytes(16)
    wrapped = wrap_data_key(master, data_key, context=context)
    assert wrapped.key_id == key_id_of(master) != key_id_of(other)
    assert data_key not in wrapped.wrapped

    assert unwrap_data_key([other, master], wrapped.wrapped, wrapped.key_id, context=context) == data_key
    # Another master key: none matches the id, and forcing it fails authentication.
    with pytest.raises(KeyUnavailable):
        unwrap_data_key([other], wrapped.wrapped, wrapped.key_id, context=context)
    with pytest.raises(DecryptionError):
        unwrap_data_key([other], wrapped.wrapped, key_id_of(other), context=context)
    # Moved to another recording's row: refused.
    with pytest.raises(DecryptionError):
        unwrap_data_key([master], wrapped.wrapped, wrapped.key_id, context=secrets.token_bytes(16))
    tampered = bytearray(wrapped.wrapped)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        unwrap_data_key([master], bytes(tampered), wrapped.key_id, context=context)
    # Shredded: nothing to unwrap.
    with pytest.raises(KeyUnavailable):
        unwrap_data_key([master], None, wrapped.key_id, context=context)


def test_the_master_key_setting_accepts_base64_and_urlsafe_base64() -> None:
    key = bytes(range(250, 256)) + secrets.token_bytes(26)  # bytes that encode to "+/" vs "-_"
    for text in (
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        f"  {base64.b64encode(key).decode()}\n",
    ):
        assert parse_master_key(text) == key
    for bad in (
        "",
        "not base64 at all!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(bytes(48)).decode(),
    ):
        with pytest.raises(ValueError):
            parse_master_key(bad)


def test_the_config_never_shows_its_keys() -> None:
    key = secrets.token_bytes(32)
    config = RecordingsConfig(master_key=key, retired_master_keys=(secrets.token_bytes(32),))
    assert key.hex() not in repr(config) and repr(key) not in repr(config)
    with pytest.raises(ValueError):
        RecordingsConfig(master_key=b"too short")
