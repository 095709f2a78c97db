"""``Recorder``: small fake sources for the rules, real aiortc peers for the files."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc.codecs import opus, vpx

from media import EncodedFrame, Recorder, RecordingError, RecordingResult
from media.webm import opus_head, vp8_dimensions
from tests.media.conftest import FakeClock, FakeSource

FPS = 20
VIDEO_STEP = 90000 // FPS  # RTP ticks per video frame
AUDIO_STEP = 960  # RTP ticks per 20 ms Opus frame


def vp8(timestamp: int, *, key: bool = False, discontinuity: bool = False) -> EncodedFrame:
    first_partition = 40
    tag = (0 if key else 1) | 1 << 4 | first_partition << 5
    # Keyframes: start code, then 640 and 480 as 14-bit little-endian fields.
    header = tag.to_bytes(3, "little") + (b"\x9d\x01\x2a\x80\x02\xe0\x01" if key else b"")
    return EncodedFrame(
        kind="video",
        mime_type="video/VP8",
        clock_rate=90000,
        data=header + bytes(200),
        timestamp=timestamp,
        keyframe=key,
        discontinuity=discontinuity,
    )


def opus_frame(timestamp: int) -> EncodedFrame:
    return EncodedFrame(
        kind="audio",
        mime_type="audio/opus",
        clock_rate=48000,
        data=b"\xfc" + bytes(60),
        timestamp=timestamp,
        keyframe=True,
    )


class Rig:
    """A recorder on fake sources, with a fake clock that frames advance."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        self.video, self.audio, self.clock = FakeSource("video"), FakeSource("audio"), FakeClock()
        self.recorder = Recorder(self.video, self.audio, path, clock=self.clock, **kwargs)

    def send_video(self, timestamp: int, **kwargs: Any) -> None:
        self.video.emit(vp8(timestamp & 0xFFFFFFFF, **kwargs))

    def send_audio(self, timestamp: int) -> None:
        self.audio.emit(opus_frame(timestamp & 0xFFFFFFFF))

    def send_media(self, seconds: float, video_ts: int, audio_ts: int, *, key_first: bool = False) -> None:
        """``seconds`` of interleaved frames at the real rates (raw 32-bit RTP timestamps)."""
        for i in range(round(seconds * 100)):  # 10 ms steps
            if i % 5 == 0:
                self.send_video(video_ts + i // 5 * VIDEO_STEP, key=key_first and i == 0)
            if i % 2 == 0:
                self.send_audio(audio_ts + i // 2 * AUDIO_STEP)
            self.clock.now += 0.01


def packets(path: Path) -> dict[str, list[av.Packet]]:
    """Demuxed packets by stream type (no decoding)."""
    found: dict[str, list[av.Packet]] = {"audio": [], "video": []}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size:
                found[packet.stream.type].append(packet)
    return found


def strictly_increasing(values: list[int]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


# --- the rules, with fake sources ---------------------------------------------------------


async def test_rtp_timestamps_wrapping_past_2_32_give_monotonic_pts(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "wrap.webm")
    await rig.recorder.start()
    # Both streams wrap about a second in; their offsets are unrelated, as in real RTP.
    rig.send_media(2.0, video_ts=2**32 - 20 * VIDEO_STEP, audio_ts=2**32 - 50 * AUDIO_STEP, key_first=True)
    result = await rig.recorder.stop()

    found = packets(tmp_path / "wrap.webm")
    video = [p.pts for p in found["video"]]
    audio = [p.pts for p in found["audio"]]
    assert len(video) == 40 and len(audio) == 100
    # Exactly the RTP spacing on both sides of the wrap: 50 ms and 20 ms.
    assert [b - a for a, b in itertools.pairwise(video)] == [50] * 39
    assert [b - a for a, b in itertools.pairwise(audio)] == [20] * 99
    assert video[0] == 0 and audio[0] == 0  # both arrived at the same instant
    assert result.video_frames == 40 and result.audio_frames == 100
    assert result.duration_seconds == pytest.approx(1.98)


async def test_a_gap_in_frames_never_makes_timestamps_go_backwards(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "gap.webm")
    await rig.recorder.start()
    requests_at_start = rig.video.keyframe_requests
    rig.send_media(0.5, video_ts=1000, audio_ts=7, key_first=True)
    # Ten video frames and 25 audio frames lost; the next video frame says so.
    rig.clock.now += 0.5
    rig.send_video(1000 + 20 * VIDEO_STEP, discontinuity=True)  # skipped: its reference is gone
    rig.send_video(1000 + 21 * VIDEO_STEP)  # skipped too, still no keyframe
    rig.send_video(1000 + 22 * VIDEO_STEP, key=True)
    rig.send_audio(7 + 50 * AUDIO_STEP)
    # A party whose sender restarted: its audio timestamps jump back.
    rig.clock.now += 0.02
    rig.send_audio(123)
    rig.clock.now += 0.02
    rig.send_audio(123 + AUDIO_STEP)
    result = await rig.recorder.stop()

    assert rig.video.keyframe_requests > requests_at_start  # the gap asked for a keyframe
    assert result.skipped == 2
    found = packets(tmp_path / "gap.webm")
    video = [p.pts for p in found["video"]]
    audio = [p.pts for p in found["audio"]]
    assert strictly_increasing(video) and strictly_increasing(audio)
    assert video[-2:] == [450, 1100]  # the gap stays a gap, in the RTP time it lasted
    assert audio[-3:] == [1000, 1020, 1040]
    assert found["video"][-1].is_keyframe


async def test_capture_starts_at_a_requested_keyframe_and_creates_the_file_then(tmp_path: Path) -> None:
    path = tmp_path / "start.webm"
    rig = Rig(path, keyframe_retry_s=0.5, flush_interval_s=0.01)
    rig.send_media(0.5, video_ts=0, audio_ts=0)  # before start: not even looked at
    assert rig.video.keyframe_requests == 0
    await rig.recorder.start()
    assert rig.video.keyframe_requests == 1
    rig.send_media(1.0, video_ts=100 * VIDEO_STEP, audio_ts=0)  # no keyframe yet
    await asyncio.sleep(0.1)
    assert not path.exists()  # nothing written, not even a header
    assert rig.video.keyframe_requests >= 2  # asked again while waiting
    assert not rig.recorder.recording

    rig.send_media(1.0, video_ts=200 * VIDEO_STEP, audio_ts=10**6, key_first=True)
    async with asyncio.timeout(5):
        while not path.exists():  # noqa: ASYNC110 (the writer thread has no event for this)
            await asyncio.sleep(0.01)
    assert rig.recorder.recording
    result = await rig.recorder.stop()

    found = packets(path)
    assert found["video"][0].is_keyframe and found["video"][0].pts == 0
    assert len(found["video"]) == 20 and len(found["audio"]) == 50  # nothing from before
    assert result.skipped == 20
    assert result.path == path and result.bytes == path.stat().st_size


async def test_frames_after_stop_are_ignored_and_stopping_twice_is_fine(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "stop.webm")
    async with rig.recorder as recorder:
        rig.send_media(0.4, video_ts=0, audio_ts=0, key_first=True)
    first = await recorder.stop()
    rig.send_media(0.4, video_ts=20 * VIDEO_STEP, audio_ts=20 * AUDIO_STEP, key_first=True)
    assert await recorder.stop() == first
    assert (first.video_frames, first.audio_frames) == (8, 20)
    assert len(packets(tmp_path / "stop.webm")["video"]) == 8
    with pytest.raises(RuntimeError):
        await recorder.start()  # a recorder records once


async def test_stop_without_a_keyframe_leaves_no_file(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "none.webm")
    await rig.recorder.start()
    rig.send_media(0.5, video_ts=0, audio_ts=0)
    result = await rig.recorder.stop()
    assert result == RecordingResult(
        path=None,
        bytes=0,
        duration_seconds=0.0,
        video_frames=0,
        audio_frames=0,
        dropped=0,
        skipped=10,
        writer_cpu_seconds=result.writer_cpu_seconds,
    )
    assert not (tmp_path / "none.webm").exists()


async def test_a_stalled_writer_makes_the_recorder_drop_and_count_never_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    original = Recorder._write

    def stalled_write(self: Recorder, item: Any) -> None:
        release.wait(5)  # a disk that hangs
        original(self, item)

    monkeypatch.setattr(Recorder, "_write", stalled_write)
    rig = Rig(tmp_path / "stall.webm", max_queued=20, flush_interval_s=0.01)
    await rig.recorder.start()
    began = time.monotonic()
    rig.send_media(1.0, video_ts=0, audio_ts=0, key_first=True)  # 70 frames for 20 places
    assert time.monotonic() - began < 0.5  # the event loop never waited for the writer
    dropped = rig.recorder.dropped
    # Audio that did not fit is dropped; once a video frame is, the rest of the video
    # waits for a keyframe (skipped).
    assert dropped >= 1 and dropped + rig.recorder.skipped >= 70 - 21
    release.set()
    await asyncio.sleep(0.1)
    # After the drop, video resumes at the next keyframe only.
    rig.send_media(0.2, video_ts=100 * VIDEO_STEP, audio_ts=10**6)
    await asyncio.sleep(0.1)
    rig.send_media(0.2, video_ts=200 * VIDEO_STEP, audio_ts=2 * 10**6, key_first=True)
    result = await rig.recorder.stop()

    assert result.dropped == dropped
    found = packets(tmp_path / "stall.webm")
    assert [p.is_keyframe for p in found["video"]][-5:] == [False, True, False, False, False]
    assert strictly_increasing([p.pts for p in found["video"]])


async def test_a_file_that_cannot_be_written_fails_the_stop_not_the_call(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "no-such-dir" / "fail.webm", flush_interval_s=0.01)
    await rig.recorder.start()
    rig.send_media(0.5, video_ts=0, audio_ts=0, key_first=True)  # nothing raises here
    await asyncio.sleep(0.05)
    rig.send_media(0.5, video_ts=10 * VIDEO_STEP, audio_ts=25 * AUDIO_STEP)
    with pytest.raises(RecordingError):
        await rig.recorder.stop()
    with pytest.raises(RecordingError):
        await rig.recorder.stop()


async def test_writing_opens_no_codec(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "codecs.webm")
    await rig.recorder.start()
    rig.send_media(0.4, video_ts=0, audio_ts=0, key_first=True)
    await rig.recorder.stop()
    streams = rig.recorder._writer.streams
    assert set(streams) == {"audio", "video"}
    # PyAV opens a stream's codec context when it writes the header, unless there is none
    # (VP8: a bare mux stream) or it came from a template (Opus).
    assert all(s.codec_context is None or not s.codec_context.is_open for s in streams.values())


def test_vp8_and_opus_headers() -> None:
    assert vp8_dimensions(vp8(0, key=True).data) == (640, 480)
    with pytest.raises(ValueError):
        vp8_dimensions(vp8(0).data)
    head = opus_head()
    assert head[:8] == b"OpusHead" and head[9] == 2 and len(head) == 19


# --- real aiortc peers ----------------------------------------------------------------------


def receiving(*clients: Any) -> bool:
    return all(
        kind in c.received and c.received[kind].frames > 0 for c in clients for kind in ("audio", "video")
    )


async def live_call(new_call: Any, new_client: Any, until: Any) -> tuple[Any, dict[str, Any]]:
    call = new_call()
    clients = {"visitor": new_client(), "adviser": new_client()}
    for party, client in clients.items():
        await client.offer_to(call.leg(party))
    await until(lambda: receiving(*clients.values()))
    return call, clients


def decode_completely(path: Path) -> dict[str, Any]:
    """Demux and decode every packet (any error fails); what was found, per stream type."""
    found: dict[str, Any] = {"frames": {"audio": 0, "video": 0}, "pts": {"audio": [], "video": []}}
    with av.open(str(path)) as container:
        found["duration"] = container.duration / 1_000_000
        for packet in container.demux():
            if not packet.size:
                continue
            kind = packet.stream.type
            if not found["pts"]["video"] and kind == "video":
                found["first_video_keyframe"] = packet.is_keyframe
            found["pts"][kind].append(packet.pts)
            found["frames"][kind] += len(packet.decode())
    return found


async def test_recording_both_parties_gives_complete_webm_files_of_the_recorded_length(
    new_call: Any, new_client: Any, until: Any, tmp_path: Path
) -> None:
    call, clients = await live_call(new_call, new_client, until)
    recorders = {party: Recorder.for_leg(call.leg(party), tmp_path / f"{party}.webm") for party in clients}
    await asyncio.sleep(0.5)  # media flows, nobody consented yet
    assert not any(r.path.exists() for r in recorders.values())

    sent_before = {party: c.video.frames_sent for party, c in clients.items()}
    for recorder in recorders.values():
        await recorder.start()
    await asyncio.sleep(4.0)
    stopped_at = time.monotonic()
    results: dict[str, RecordingResult] = dict(
        zip(recorders, await asyncio.gather(*(r.stop() for r in recorders.values())), strict=True)
    )
    stop_took = time.monotonic() - stopped_at
    sent = {party: c.video.frames_sent - sent_before[party] for party, c in clients.items()}

    assert stop_took < 1.0, f"stop took {stop_took:.2f} s"
    for party, recorder in recorders.items():
        result = results[party]
        assert recorder.capture_started_at is not None
        wall = stopped_at - recorder.capture_started_at
        found = decode_completely(tmp_path / f"{party}.webm")
        assert found["first_video_keyframe"]
        assert found["duration"] == pytest.approx(wall, rel=0.05)
        assert result.duration_seconds == pytest.approx(wall, rel=0.05)
        video_span = found["pts"]["video"][-1] - found["pts"]["video"][0]
        audio_span = found["pts"]["audio"][-1] - found["pts"]["audio"][0]
        assert audio_span == pytest.approx(video_span, rel=0.05)
        # Every captured frame decodes; capture began at the first keyframe after start.
        assert found["frames"]["video"] == result.video_frames
        assert found["frames"]["audio"] == result.audio_frames
        # (Frames sent until the keyframe came are not recorded: about 2.)
        assert 0.95 * sent[party] - 2 <= result.video_frames <= sent[party], (party, result, sent)
        assert result.audio_frames >= 0.95 * 50 * wall
        assert result.dropped == 0


async def test_recording_never_decodes_or_encodes(
    new_call: Any, new_client: Any, until: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in test_call: the clients (the synthetic peer) neither decode nor encode, so any
    # instance would be the server's.
    used: dict[str, set[int]] = {}

    def spy(cls: type, method: str) -> None:
        original = getattr(cls, method)

        def wrapper(self: object, *args: Any, **kwargs: Any) -> Any:
            used.setdefault(f"{cls.__name__}.{method}", set()).add(id(self))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    for decoder in (vpx.Vp8Decoder, opus.OpusDecoder):
        spy(decoder, "decode")
    for encoder in (vpx.Vp8Encoder, opus.OpusEncoder):
        spy(encoder, "encode")

    call, clients = await live_call(new_call, new_client, until)
    recorders = [Recorder.for_leg(call.leg(party), tmp_path / f"{party}.webm") for party in clients]
    for recorder in recorders:
        await recorder.start()
    await asyncio.sleep(1.5)
    results = [await recorder.stop() for recorder in recorders]

    assert all(r.video_frames > 0 and r.audio_frames > 0 for r in results)
    for name in ("Vp8Decoder.decode", "OpusDecoder.decode", "Vp8Encoder.encode", "OpusEncoder.encode"):
        assert name not in used, name
    for recorder in recorders:
        streams = recorder._writer.streams.values()
        assert all(s.codec_context is None or not s.codec_context.is_open for s in streams)
