"""Relay CPU per call: Loket's RTP packet forwarding against aiortc's MediaRelay.

    python -m bench.relay --calls N --seconds S [--loss PCT]

Runs N concurrent 1:1 calls of synthetic aiortc clients (``media.synthetic_peer``: VP8
640x480 at 20 fps plus Opus, both ways, a loop encoded once and counted at the RTP level)
through (a) Loket's relay (``media.MediaCall``: legs and packet forwarders, no transcoding) and
(b) a baseline built the naive way with aiortc's ``MediaRelay`` (every track decoded and
re-encoded), one after the other in the same run; then (c) the same number of client pairs
connected directly to each other, without any server, for the latency reference. Each relay
runs in its own process, so its CPU time (``time.process_time()``: all its threads) is
measured apart from the clients'. Every video frame carries its number, so the receiving
clients count exactly which frames Loket delivered; the baseline re-encodes, its frames lose
their numbers, and its delivery is the frames received over the frames sent in the window.

*Latency.* Each video frame's number tells when its sender sent its packets
and when the receiver counted it whole; the median of those one-way delays through Loket,
minus the median over the direct connections (c), is ``added_latency_ms_p50``. The line
before the last gives each relay's CPU time per video frame it delivered: on a machine whose
cores the baseline cannot get, it delivers a fraction of the frames and its core per call
understates what it costs. All clients
live in this one process, so both share its clock and its load.

*Loss.* ``--loss PCT`` drops that share of every client's outgoing RTP packets at random
(retransmissions included; RTCP always goes): the client-to-server path of every variant is
lossy, the server-to-client path is not. Loket asks the sender again (NACK) for what it lost,
and forwards the retransmission (RFC 4588); ``delivered_pct`` shows what that recovered.

Recording is measured in the Loket relay process, on the same calls, right after its plain
window: a second window of the same length during which a ``media.Recorder`` records each
participant of every call (both legs) into a temporary directory, from start to stop
included, then a third one without recording. ``recording_core_per_call`` is the
recording window's core per call minus the mean of the two plain windows around it.

The last line printed is::

    relay_cpu_ratio=<baseline/loket> loket_core_per_call=<x> baseline_core_per_call=<y>
    delivered_pct=<frames received / frames sent, Loket> recording_core_per_call=<z>
    added_latency_ms_p50=<Loket's median one-way video delay minus the direct connections'>

(on one line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import multiprocessing
import multiprocessing.connection
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from media import PARTIES, MediaCall, MediaConfig, Recorder, RecordingResult
from media.synthetic import LoopedVideoTrack, encoded_loop
from media.synthetic_peer import SyntheticPeer

VARIANTS = ("loket", "baseline")
FPS = 20

Connection = multiprocessing.connection.Connection


# --- relay side (one process per variant) -------------------------------------------------


class _LoketRelay:
    def __init__(self) -> None:
        self.config = MediaConfig(allow_private_candidates=True)
        self.calls: list[MediaCall] = []
        self.recorders: list[Recorder] = []
        self._spool: tempfile.TemporaryDirectory[str] | None = None

    async def start_recording(self) -> None:
        """Record every participant of every call (one WebM file per leg)."""
        self._spool = tempfile.TemporaryDirectory(prefix="loket-bench-")
        self.recorders = [
            Recorder.for_leg(call.leg(party), os.path.join(self._spool.name, f"{call.call_id}-{party}.webm"))
            for call in self.calls
            for party in PARTIES
        ]
        for recorder in self.recorders:
            await recorder.start()

    async def stop_recording(self) -> dict[str, float]:
        results: list[RecordingResult] = await asyncio.gather(*(r.stop() for r in self.recorders))
        self.recorders = []
        if self._spool is not None:
            self._spool.cleanup()
            self._spool = None
        return {
            "files": sum(r.path is not None for r in results),
            "bytes": sum(r.bytes for r in results),
            "video_frames": sum(r.video_frames for r in results),
            "audio_frames": sum(r.audio_frames for r in results),
            "dropped": sum(r.dropped for r in results),
            "writer_cpu_s": round(sum(r.writer_cpu_seconds for r in results), 4),
        }

    async def answer(self, index: int, offers: list[str]) -> list[str]:
        call = MediaCall(config=self.config, call_id=f"bench-{index}")
        self.calls.append(call)
        answers = []
        for party, offer in zip(PARTIES, offers, strict=True):
            sdp, _ = await call.leg(party).answer(offer, "offer")
            answers.append(sdp)
        return answers

    def stats(self) -> dict[str, int]:
        totals = dict.fromkeys(
            ("forwarded", "dropped", "keyframe_requests", "nacks_sent", "recovered", "unrecovered"), 0
        )
        for call in self.calls:
            for forwarder in call.forwarders:
                totals["forwarded"] += forwarder.stats.forwarded
                totals["dropped"] += forwarder.stats.dropped
                totals["keyframe_requests"] += forwarder.stats.keyframe_requests
            for party in PARTIES:
                video = call.leg(party).inbound["video"]
                totals["nacks_sent"] += video.nacks_sent
                totals["recovered"] += video.recovered
                totals["unrecovered"] += video.unrecovered
        return totals

    async def close(self) -> None:
        await asyncio.gather(*(call.close() for call in self.calls))


class _BaselineRelay:
    """The naive aiortc relay: ``MediaRelay`` proxies of decoded tracks, re-encoded per sender."""

    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.pcs: list[RTCPeerConnection] = []

    async def answer(self, index: int, offers: list[str]) -> list[str]:
        pcs = [RTCPeerConnection(RTCConfiguration(iceServers=[])) for _ in offers]
        self.pcs += pcs
        remote: list[dict[str, MediaStreamTrack]] = []
        for pc, offer in zip(pcs, offers, strict=True):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            remote.append({t.kind: t.receiver.track for t in pc.getTransceivers()})
        answers = []
        for pc, other in zip(pcs, reversed(remote), strict=True):
            for kind in ("audio", "video"):
                pc.addTrack(self.relay.subscribe(other[kind]))
            await pc.setLocalDescription(await pc.createAnswer())
            answers.append(pc.localDescription.sdp)
        return answers

    def stats(self) -> dict[str, int]:
        return {}

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs))


async def _serve(variant: str, conn: Connection) -> None:
    relay: _LoketRelay | _BaselineRelay = _LoketRelay() if variant == "loket" else _BaselineRelay()
    loop = asyncio.get_running_loop()
    cpu0 = wall0 = 0.0
    times0 = os.times()
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        command = message[0]
        if command == "call":
            conn.send(("answers", await relay.answer(message[1], message[2])))
        elif command == "measure_start":
            cpu0, wall0, times0 = time.process_time(), time.monotonic(), os.times()
            conn.send(("ok",))
        elif command == "measure_stop":
            times = os.times()
            stats = relay.stats()
            stats["user_ms"] = round(1000 * (times.user - times0.user))
            stats["system_ms"] = round(1000 * (times.system - times0.system))
            conn.send(("cpu", time.process_time() - cpu0, time.monotonic() - wall0, stats))
        elif command == "record_start" and isinstance(relay, _LoketRelay):
            await relay.start_recording()
            conn.send(("ok",))
        elif command == "record_stop" and isinstance(relay, _LoketRelay):
            conn.send(("recorded", await relay.stop_recording()))
        elif command == "quit":
            await relay.close()
            conn.send(("bye",))
            return


def relay_process(variant: str, conn: Connection, profile: str | None = None) -> None:
    """Entry point of a relay process; with ``profile``, writes cProfile stats there."""
    logging.basicConfig(level=logging.WARNING)
    if profile is None:
        asyncio.run(_serve(variant, conn))
        return
    # CPU time, not wall-clock time: on a shared machine, waiting for a core is not cost.
    with cProfile.Profile(time.process_time) as profiler:
        asyncio.run(_serve(variant, conn))
    profiler.dump_stats(profile)


# --- client side (the benchmark's main process) -------------------------------------------


def _video(client: SyntheticPeer) -> LoopedVideoTrack:
    assert client.video is not None
    return client.video


class _RelayHandle:
    def __init__(self, variant: str, profile: str | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=relay_process, args=(variant, child, profile), name=f"relay-{variant}"
        )
        self.process.start()
        child.close()

    async def request(self, *message: Any) -> Any:
        self._conn.send(message)
        return await asyncio.get_running_loop().run_in_executor(None, self._conn.recv)

    def join(self) -> None:
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


@dataclass
class VariantResult:
    variant: str
    core_per_call: float
    delivered_pct: float
    frames_sent: int
    frames_received: int
    client_core: float
    relay_stats: dict[str, int]
    latency_ms_p50: float | None = None
    recording_core_per_call: float | None = None
    recording_stats: dict[str, float] | None = None


def _latencies(pairs: list[tuple[SyntheticPeer, SyntheticPeer]], numbers: dict[int, range]) -> list[float]:
    """One-way delays (s) of the numbered frames sent in each sender's window and received whole."""
    delays = []
    for visitor, adviser in pairs:
        for sender, receiver in ((visitor, adviser), (adviser, visitor)):
            sent_at = _video(sender).sent_at
            counter = receiver.received["video"]
            arrivals: dict[int, float] = getattr(counter, "number_arrivals", {})
            delays += [
                arrivals[n] - sent_at[n] for n in numbers[id(sender)] if n in arrivals and n in sent_at
            ]
    return delays


def _new_pair(loss: float, rng: random.Random) -> tuple[SyntheticPeer, SyntheticPeer]:
    pair = (SyntheticPeer.create(), SyntheticPeer.create())
    if loss > 0:
        for client in pair:
            client.drop_outgoing(loss / 100, rng)
    return pair


async def run_direct(calls: int, seconds: float, warmup: float, loss: float) -> float | None:
    """The median one-way video delay (s) of ``calls`` client pairs connected to each other."""
    rng = random.Random(7)
    pairs: list[tuple[SyntheticPeer, SyntheticPeer]] = []
    try:
        for _ in range(calls):
            offerer, answerer = pair = _new_pair(loss, rng)
            pairs.append(pair)
            await offerer.negotiate(answerer.answer)
        clients = [client for pair in pairs for client in pair]
        async with asyncio.timeout(30):
            while not all(c.receiving("video") for c in clients):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(warmup)
        start = {id(c): _video(c).frames_sent for c in clients}
        await asyncio.sleep(seconds)
        window = {id(c): range(start[id(c)], _video(c).frames_sent) for c in clients}
        await asyncio.sleep(1.5)
        delays = _latencies(pairs, window)
        return statistics.median(delays) if delays else None
    finally:
        for visitor, adviser in pairs:
            await visitor.close()
            await adviser.close()


async def run_variant(
    variant: str,
    calls: int,
    seconds: float,
    warmup: float,
    profile: str | None = None,
    *,
    record: bool = False,
    loss: float = 0.0,
) -> VariantResult:
    relay = _RelayHandle(variant, f"{profile}.{variant}.prof" if profile else None)
    pairs: list[tuple[SyntheticPeer, SyntheticPeer]] = []
    rng = random.Random(7)
    try:
        for index in range(calls):
            pair = _new_pair(loss, rng)
            pairs.append(pair)
            offers = [(await client.offer()).sdp for client in pair]
            _, answers = await relay.request("call", index, offers)
            for client, answer in zip(pair, answers, strict=True):
                await client.accept(answer, "answer")
        clients = [client for pair in pairs for client in pair]
        async with asyncio.timeout(30):
            while not all(c.receiving() for c in clients):  # noqa: ASYNC110 (nothing to wait on)
                await asyncio.sleep(0.05)
        await asyncio.sleep(warmup)

        start = {id(c): _video(c).frames_sent for c in clients}
        frames0 = {id(c): c.received["video"].frames for c in clients}
        client_cpu0 = time.process_time()
        await relay.request("measure_start")
        wall0 = time.monotonic()
        await asyncio.sleep(seconds)
        _, relay_cpu, relay_wall, stats = await relay.request("measure_stop")
        client_core = (time.process_time() - client_cpu0) / (time.monotonic() - wall0)
        end = {id(c): _video(c).frames_sent for c in clients}
        frames1 = {id(c): c.received["video"].frames for c in clients}
        await asyncio.sleep(1.5)  # frames sent at the end of the window are still on their way

        delays = _latencies(pairs, {id(c): range(start[id(c)], end[id(c)]) for c in clients})
        sent = received = 0
        for visitor, adviser in pairs:
            for sender, receiver in ((visitor, adviser), (adviser, visitor)):
                window = range(start[id(sender)], end[id(sender)])
                sent += len(window)
                numbers = receiver.received["video"].numbers
                if numbers:
                    received += len(set(numbers).intersection(window))
                else:  # re-encoded on the way (the baseline): no numbers, count the frames
                    received += frames1[id(receiver)] - frames0[id(receiver)]
        core_per_call = relay_cpu / relay_wall / calls
        recording_core_per_call = recording_stats = None
        if record:
            # Same calls, same process: a window recording, then one more without. The
            # reference is the mean of the plain windows before and after, which cancels
            # a steady drift of the relay's CPU over the run.
            await relay.request("measure_start")
            await relay.request("record_start")
            await asyncio.sleep(seconds)
            _, recording_stats = await relay.request("record_stop")
            _, rec_cpu, rec_wall, _ = await relay.request("measure_stop")
            await relay.request("measure_start")
            await asyncio.sleep(seconds)
            _, after_cpu, after_wall, _ = await relay.request("measure_stop")
            reference = (core_per_call + after_cpu / after_wall / calls) / 2
            recording_core_per_call = rec_cpu / rec_wall / calls - reference
        return VariantResult(
            variant=variant,
            core_per_call=core_per_call,
            delivered_pct=100.0 * received / sent if sent else 0.0,
            frames_sent=sent,
            frames_received=received,
            client_core=client_core,
            relay_stats=stats,
            latency_ms_p50=1000 * statistics.median(delays) if delays else None,
            recording_core_per_call=recording_core_per_call,
            recording_stats=recording_stats,
        )
    finally:
        for visitor, adviser in pairs:
            await visitor.close()
            await adviser.close()
        # If the relay process already died, its error is what matters, not the pipe's.
        with contextlib.suppress(EOFError, OSError):
            await relay.request("quit")
        relay.join()


async def main_async(
    calls: int, seconds: float, warmup: float, profile: str | None = None, loss: float = 0.0
) -> tuple[list[VariantResult], float | None]:
    encoded_loop()  # the clients' media, encoded once before anything is measured
    results = []
    for variant in VARIANTS:
        try:
            result = await run_variant(
                variant, calls, seconds, warmup, profile, record=variant == "loket", loss=loss
            )
        except TimeoutError:
            # Its clients never all received media (a relay starved of CPU): nothing to measure.
            print(f"{variant}: no media reached every client within 30 s; not measured", flush=True)
            result = VariantResult(variant, float("nan"), 0.0, 0, 0, 0.0, {})
        latency = "na" if result.latency_ms_p50 is None else f"{result.latency_ms_p50:.1f} ms"
        print(
            f"{variant}: {result.core_per_call:.4f} core per call (relay process), "
            f"video delivered {result.frames_received}/{result.frames_sent} = {result.delivered_pct:.2f} %, "
            f"one-way video delay p50 {latency}, "
            f"clients used {result.client_core:.2f} core" + f", relay {result.relay_stats}",
            flush=True,
        )
        if result.recording_core_per_call is not None:
            print(
                f"{variant} recording both participants: {result.recording_core_per_call:+.4f} "
                f"core per call, "
                f"{result.recording_stats}",
                flush=True,
            )
        results.append(result)
    direct = await run_direct(calls, seconds, warmup, loss)
    print(
        f"direct (no server): one-way video delay p50 "
        f"{'na' if direct is None else f'{1000 * direct:.1f} ms'}",
        flush=True,
    )
    return results, direct


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2, help="concurrent 1:1 calls per variant")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per variant")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of media before measuring")
    parser.add_argument(
        "--profile", metavar="PREFIX", help="write cProfile stats of each relay to PREFIX.<variant>.prof"
    )
    parser.add_argument(
        "--loss",
        type=float,
        default=0.0,
        metavar="PCT",
        help="random loss on the client-to-server path, in %%",
    )
    args = parser.parse_args(argv)
    if args.calls < 1 or args.seconds <= 0:
        parser.error("--calls must be at least 1 and --seconds positive")
    if not 0 <= args.loss < 100:
        parser.error("--loss is a percentage, 0 to below 100")
    logging.basicConfig(level=logging.WARNING)

    print(
        f"{args.calls} calls, {args.seconds:g} s measured per variant, "
        f"640x480 VP8 at {FPS} fps + Opus both ways, {args.loss:g} % loss client to server"
    )
    (loket, baseline), direct = asyncio.run(
        main_async(args.calls, args.seconds, args.warmup, args.profile, args.loss)
    )
    ratio = baseline.core_per_call / loket.core_per_call if loket.core_per_call > 0 else float("inf")
    # A baseline that cannot get the cores it needs delivers few frames and so looks cheap per
    # call: the CPU time per video frame delivered shows the work each does for the same result.
    per_frame = {
        r.variant: r.core_per_call * args.calls * args.seconds / r.frames_received
        if r.frames_received
        else None
        for r in (loket, baseline)
    }
    if per_frame["loket"] and per_frame["baseline"]:
        loket_ms, baseline_ms = 1000 * per_frame["loket"], 1000 * per_frame["baseline"]
        print(
            f"cpu_ms_per_delivered_frame: loket {loket_ms:.3f}, baseline {baseline_ms:.3f}, "
            f"ratio {baseline_ms / loket_ms:.1f}"
        )
    recording = loket.recording_core_per_call
    added = None
    if loket.latency_ms_p50 is not None and direct is not None:
        added = loket.latency_ms_p50 - 1000 * direct
    print(
        f"relay_cpu_ratio={ratio:.2f} loket_core_per_call={loket.core_per_call:.4f} "
        f"baseline_core_per_call={baseline.core_per_call:.4f} delivered_pct={loket.delivered_pct:.2f} "
        f"recording_core_per_call={'na' if recording is None else f'{recording:.4f}'} "
        f"added_latency_ms_p50={'na' if added is None else f'{added:.1f}'}"
    )


if __name__ == "__main__":
    main()
