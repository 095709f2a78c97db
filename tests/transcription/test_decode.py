"""Decoding untrusted media in a limited subprocess: good files decode, bad ones fail with a
reason, and the kernel limits hold (tiny limits make a child exceed them on purpose)."""

from __future__ import annotations

import io
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.transcription.media_files import read_wav, speak, tone, write_webm
from transcription import SAMPLE_RATE, DecodeFailed, DecodeLimits, decode_audio
from transcription._decode_child import Failure, _Writer
from transcription.sandbox import run_limited

LIMITS = DecodeLimits()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-second Opus-in-WebM recording, written by PyAV as the recorder writes them."""
    return write_webm(tmp_path_factory.mktemp("decode") / "recording.webm", [(0.0, tone(10.0))], 48000)


def children() -> set[int]:
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found


async def test_a_webm_recording_decodes_to_16_khz_mono_float32(recording: Path) -> None:
    audio = await decode_audio(recording, LIMITS)
    assert audio.dtype == np.float32
    assert abs(len(audio) / SAMPLE_RATE - 10.0) < 0.05
    assert 0.25 < np.abs(audio).max() < 0.35


async def test_a_wav_decodes_to_the_same_length(tmp_path: Path) -> None:
    wav = speak("Good afternoon.", tmp_path / "speech.wav")
    samples, rate = read_wav(wav)
    audio = await decode_audio(wav, LIMITS)
    assert abs(len(audio) / SAMPLE_RATE - len(samples) / rate) < 0.01


async def test_gaps_in_the_timestamps_become_silence(tmp_path: Path) -> None:
    # 1 s of tone, 2 s without packets (Opus DTX, packet loss), 1 s of tone.
    webm = write_webm(tmp_path / "gap.webm", [(0.0, tone(1.0)), (3.0, tone(1.0))], 48000)
    audio = await decode_audio(webm, LIMITS)
    assert abs(len(audio) / SAMPLE_RATE - 4.0) < 0.05
    assert np.abs(audio[int(1.2 * SAMPLE_RATE) : int(2.8 * SAMPLE_RATE)]).max() == 0.0
    assert np.abs(audio[int(3.2 * SAMPLE_RATE) : int(3.8 * SAMPLE_RATE)]).max() > 0.25


async def test_random_bytes_named_webm_fail_with_a_reason(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.webm"
    garbage.write_bytes(np.random.default_rng(5).bytes(100_000))
    with pytest.raises(DecodeFailed, match="not a readable media file") as failure:
        await decode_audio(garbage, LIMITS)
    assert failure.value.code == "decode_failed"


@pytest.mark.parametrize(("keep", "reason"), [(20_000, "truncated"), (300, "not a readable media file")])
async def test_a_truncated_webm_fails(recording: Path, tmp_path: Path, keep: int, reason: str) -> None:
    cut = tmp_path / "cut.webm"
    cut.write_bytes(recording.read_bytes()[:keep])
    with pytest.raises(DecodeFailed, match=reason):
        await decode_audio(cut, LIMITS)


async def test_a_huge_declared_duration_is_refused_before_decoding(recording: Path, tmp_path: Path) -> None:
    data = bytearray(recording.read_bytes())
    # Matroska Segment Info > Duration (EBML id 0x4489, an 8-byte float of milliseconds).
    at = data.index(b"\x44\x89\x88") + 3
    data[at : at + 8] = struct.pack(">d", 1e12)
    liar = tmp_path / "liar.webm"
    liar.write_bytes(bytes(data))
    with pytest.raises(DecodeFailed, match="declares 1000000000 s, more than the limit"):
        await decode_audio(liar, LIMITS)


async def test_audio_longer_than_the_limit_is_refused(recording: Path) -> None:
    with pytest.raises(DecodeFailed, match="more than the limit of 5 s"):
        await decode_audio(recording, DecodeLimits(max_audio_seconds=5))
    # The count holds for inserted silence too: a tiny file cannot expand into hours of gaps.
    writer = _Writer(out=io.BytesIO(), max_samples=SAMPLE_RATE, max_seconds=1)
    with pytest.raises(Failure, match="longer than the limit"):
        writer.pad_to(2.0)


async def test_playlists_and_concat_lists_are_not_followed(tmp_path: Path) -> None:
    wav = speak("secret", tmp_path / "secret.wav")
    concat = tmp_path / "list.webm"
    concat.write_text(f"ffconcat version 1.0\nfile {wav}\n")
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{wav}\n#EXT-X-ENDLIST\n")
    for path in (concat, playlist):
        with pytest.raises(DecodeFailed, match="not a readable media file"):
            await decode_audio(path, LIMITS)


async def test_missing_files_directories_and_devices_fail(tmp_path: Path) -> None:
    for path, reason in ((tmp_path / "none.webm", "no such file"), (tmp_path, "not a regular file")):
        with pytest.raises(DecodeFailed, match=reason):
            await decode_audio(path, LIMITS)
    with pytest.raises(DecodeFailed, match="not a regular file"):
        await decode_audio("/dev/zero", LIMITS)


async def test_a_decoder_over_its_memory_limit_fails_with_that_reason(recording: Path) -> None:
    with pytest.raises(DecodeFailed, match="memory limit of 64 MiB exceeded"):
        await decode_audio(recording, DecodeLimits(memory_bytes=64 * 1024 * 1024))


# -- the sandbox itself, with children that misbehave on purpose -------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-I", "-c", code]


async def test_a_child_spinning_past_its_cpu_limit_is_killed() -> None:
    started = time.monotonic()
    with pytest.raises(DecodeFailed, match=r"CPU time limit of 1 s exceeded \(killed by SIGXCPU\)"):
        await run_limited(python("while True: pass"), DecodeLimits(cpu_seconds=1), max_output_bytes=10)
    assert time.monotonic() - started < 10


async def test_a_child_allocating_past_its_memory_limit_fails() -> None:
    allocate = python("block = bytearray(512 * 1024 * 1024); print(len(block))")
    assert await run_limited(allocate, LIMITS, max_output_bytes=100) == b"536870912\n"
    with pytest.raises(DecodeFailed, match="memory limit of 128 MiB exceeded"):
        await run_limited(allocate, DecodeLimits(memory_bytes=128 * 1024 * 1024), max_output_bytes=100)


async def test_a_child_past_the_wall_clock_timeout_is_killed_and_reaped() -> None:
    before = children()
    with pytest.raises(DecodeFailed, match=r"timed out after 0\.5 s"):
        await run_limited(
            python("import time; time.sleep(30)"), DecodeLimits(timeout_seconds=0.5), max_output_bytes=10
        )
    assert children() <= before


async def test_a_child_writing_too_much_is_stopped() -> None:
    flood = python("import sys\nwhile True: sys.stdout.buffer.write(bytes(65536))")
    with pytest.raises(DecodeFailed, match="wrote more than 1000000 bytes"):
        await run_limited(flood, LIMITS, max_output_bytes=1_000_000)


async def test_a_child_gets_no_environment_and_cannot_write_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOKET_MASTER_KEY", "not for the decoder")
    output = await run_limited(python("import os; print(sorted(os.environ))"), LIMITS, max_output_bytes=1000)
    assert b"LOKET" not in output
    with pytest.raises(DecodeFailed, match="File too large"):
        await run_limited(
            python(f"with open({str(tmp_path / 'x')!r}, 'wb') as f: f.write(b'x')"),
            LIMITS,
            max_output_bytes=10,
        )
