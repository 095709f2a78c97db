"""What sealing a call's text with its data key costs (privacy.call_keys), against storing it in
clear, in the same run: chat lines, and transcripts.

Each line is stored the way ``signaling.chat`` stores it: one transaction per line, on a SQLite
file of its own (or ``--database-url``). The sealed run also looks up the call's data key and
unwraps it with the master key per line, as the chat does. Each transcript is stored the way
``transcription.job`` stores it: one UPDATE of its row per transcript (``--segments`` segments, as
JSON and WebVTT), the sealed run looking up (or making) the call's key in the same transaction;
and read back the way the staff API reads it (the row, the key, both forms opened). Also measured
alone: AES-256-GCM sealing and opening of one line and of one transcript, without the database.

    python -m bench.chat_crypto [--lines 2000] [--calls 20] [--transcripts 200] [--segments 120]
                                [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import select, update

from accounts import directory
from db import SessionFactory, create_engine, create_session_factory, migrate
from db.keys import InstallationKeys
from privacy.call_keys import (
    call_data_key,
    open_segments,
    open_text,
    open_vtt,
    seal_text,
    seal_transcript,
)
from signaling.models import Call, ChatMessage
from transcription import Segment, Transcript, to_vtt, transcript_to_dict
from transcription.models import Transcript as TranscriptRow

LINE = "Goedemiddag, staat de blauwe Polo uit de advertentie nog te koop? Mijn nummer is 06-12345678."


async def _calls(sessions: SessionFactory, count: int) -> list[uuid.UUID]:
    async with sessions() as db:
        org = await directory.create_org(db, name=f"Bench {secrets.token_hex(3)}", actor="bench")
        calls = [
            Call(org_id=org.id, reference=secrets.token_hex(6), visitor_id=secrets.token_hex(8))
            for _ in range(count)
        ]
        db.add_all(calls)
        await db.commit()
        return [call.id for call in calls]


async def _store(sessions: SessionFactory, call_ids: list[uuid.UUID], lines: int, *, sealed: bool) -> float:
    """Seconds to store ``lines`` lines spread over the calls, one transaction each."""
    started = time.perf_counter()
    for n in range(lines):
        call_id = call_ids[n % len(call_ids)]
        async with sessions() as db:
            row_id = uuid.uuid4()
            key = await call_data_key(db, call_id, create=True) if sealed else None
            text = seal_text(key, call_id, row_id, LINE)
            db.add(ChatMessage(id=row_id, call_id=call_id, party="visitor", text=text))
            await db.commit()
    return time.perf_counter() - started


def _transcript(segments: int) -> tuple[list[dict[str, object]], str]:
    """A call's transcript as the job stores it: ``segments`` alternating turns of about a line each."""
    said = tuple(
        Segment(
            start=4.0 * n,
            end=4.0 * n + 3.5,
            text=LINE,
            speaker="Visitor" if n % 2 else "Adviser",
            avg_logprob=-0.21,
            no_speech_prob=0.01,
        )
        for n in range(segments)
    )
    transcript = Transcript(
        language="nl", model="base", duration=4.0 * segments, segments=said, redacted=True
    )
    return transcript_to_dict(transcript)["segments"], to_vtt(transcript)


async def _pending_transcripts(sessions: SessionFactory, call_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    async with sessions() as db:
        rows = [TranscriptRow(call_id=call_id, status="pending") for call_id in call_ids]
        db.add_all(rows)
        await db.commit()
        return [row.id for row in rows]


async def _store_transcripts(
    sessions: SessionFactory,
    rows: list[tuple[uuid.UUID, uuid.UUID]],
    text: tuple[list[dict[str, object]], str],
    *,
    sealed: bool,
) -> float:
    """Seconds to store a transcript in each (transcript, call) row, one transaction each."""
    segments, vtt = text
    started = time.perf_counter()
    for transcript_id, call_id in rows:
        async with sessions() as db:
            key = await call_data_key(db, call_id, create=True) if sealed else None
            stored_segments, stored_vtt = seal_transcript(key, call_id, transcript_id, segments, vtt)
            await db.execute(
                update(TranscriptRow)
                .where(TranscriptRow.id == transcript_id)
                .values(status="done", segments=stored_segments, vtt=stored_vtt)
            )
            await db.commit()
    return time.perf_counter() - started


async def _read_transcripts(sessions: SessionFactory, rows: list[tuple[uuid.UUID, uuid.UUID]]) -> float:
    """Seconds to read each transcript back and open both of its forms (the staff API's read)."""
    started = time.perf_counter()
    for transcript_id, call_id in rows:
        async with sessions() as db:
            row = (
                await db.execute(
                    select(TranscriptRow.segments, TranscriptRow.vtt).where(TranscriptRow.id == transcript_id)
                )
            ).one()
            key = await call_data_key(db, call_id, create=False)
            open_segments(key, call_id, transcript_id, row.segments)
            open_vtt(key, call_id, transcript_id, row.vtt)
    return time.perf_counter() - started


def _cpu_transcript(text: tuple[list[dict[str, object]], str], repeat: int) -> tuple[float, float]:
    """Microseconds to seal and to open one transcript (both forms; JSON included)."""
    key, call_id, row_id = secrets.token_bytes(32), uuid.uuid4(), uuid.uuid4()
    segments, vtt = text
    stored_segments, stored_vtt = seal_transcript(key, call_id, row_id, segments, vtt)
    timings: list[tuple[float, float]] = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            seal_transcript(key, call_id, row_id, segments, vtt)
        middle = time.perf_counter()
        for _ in range(repeat):
            open_segments(key, call_id, row_id, stored_segments)
            open_vtt(key, call_id, row_id, stored_vtt)
        ended = time.perf_counter()
        timings.append(((middle - started) / repeat * 1e6, (ended - middle) / repeat * 1e6))
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


def _cpu(repeat: int) -> tuple[float, float]:
    """Microseconds to seal and to open one line (AES-256-GCM only)."""
    key, call_id, row_id = secrets.token_bytes(32), uuid.uuid4(), uuid.uuid4()
    sealed = seal_text(key, call_id, row_id, LINE)
    timings: list[tuple[float, float]] = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            seal_text(key, call_id, row_id, LINE)
        middle = time.perf_counter()
        for _ in range(repeat):
            open_text(key, call_id, row_id, sealed)
        ended = time.perf_counter()
        timings.append(((middle - started) / repeat * 1e6, (ended - middle) / repeat * 1e6))
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


async def _run(url: str, lines: int, calls: int, transcripts: int, segments: int) -> None:
    await migrate.upgrade(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine, keys=InstallationKeys(secrets.token_bytes(32)))
    text = _transcript(segments)
    try:
        call_ids = await _calls(sessions, calls)
        await _store(sessions, call_ids, min(lines, 100), sealed=True)  # warm up both paths
        await _store(sessions, call_ids, min(lines, 100), sealed=False)
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(3):  # interleaved, so a slow moment of the machine hits both
            for sealed in (False, True):
                runs[sealed].append(await _store(sessions, call_ids, lines, sealed=sealed))
        # Transcripts: one call each (a call has one transcript); clear and sealed on rows of
        # their own, so the sealed calls have their key and the clear ones have none.
        kinds: dict[bool, list[tuple[uuid.UUID, uuid.UUID]]] = {}
        for sealed in (False, True):
            owners = await _calls(sessions, transcripts)
            kinds[sealed] = list(zip(await _pending_transcripts(sessions, owners), owners, strict=True))
        writes: dict[bool, list[float]] = {False: [], True: []}
        reads: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(3):
            for sealed in (False, True):
                writes[sealed].append(await _store_transcripts(sessions, kinds[sealed], text, sealed=sealed))
                reads[sealed].append(await _read_transcripts(sessions, kinds[sealed]))
    finally:
        await engine.dispose()
    clear, sealed_time = statistics.median(runs[False]), statistics.median(runs[True])
    seal_us, open_us = _cpu(20_000)
    print(f"chat lines stored, one transaction each ({lines} lines over {calls} calls, median of 3 runs):")
    print(f"  in clear (baseline): {clear / lines * 1000:.3f} ms per line")
    print(f"  sealed with the call's data key: {sealed_time / lines * 1000:.3f} ms per line")
    print(f"  ratio sealed / clear: {sealed_time / clear:.2f}")
    print(f"AES-256-GCM alone, one {len(LINE)}-character line: seal {seal_us:.1f} us, open {open_us:.1f} us")
    size = len(json.dumps(text[0])) + len(text[1])
    print(
        f"transcripts ({transcripts}, {segments} segments each, {size / 1000:.0f} kB as JSON and WebVTT), "
        "median of 3 runs:"
    )
    for label, measured in (("stored, one UPDATE each", writes), ("read back and opened", reads)):
        clear, sealed_time = statistics.median(measured[False]), statistics.median(measured[True])
        print(
            f"  {label}: in clear {clear / transcripts * 1000:.3f} ms, sealed "
            f"{sealed_time / transcripts * 1000:.3f} ms per transcript (ratio {sealed_time / clear:.2f})"
        )
    t_seal_us, t_open_us = _cpu_transcript(text, 200)
    print(f"AES-256-GCM and JSON alone, one transcript: seal {t_seal_us:.0f} us, open {t_open_us:.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--transcripts", type=int, default=200)
    parser.add_argument("--segments", type=int, default=120)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loket-bench-") as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(_run(url, args.lines, args.calls, args.transcripts, args.segments))


if __name__ == "__main__":
    main()
