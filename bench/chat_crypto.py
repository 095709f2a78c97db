"""What sealing chat lines with the call's data key costs (privacy.call_keys), against storing them
in clear, in the same run.

Each line is stored the way ``signaling.chat`` stores it: one transaction per line, on a SQLite
file of its own (or ``--database-url``). The sealed run also looks up the call's data key and
unwraps it with the master key per line, as the chat does. Also measured alone: AES-256-GCM
sealing and opening of one line, without the database.

    python -m bench.chat_crypto [--lines 2000] [--calls 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from accounts import directory
from db import SessionFactory, create_engine, create_session_factory, migrate
from db.keys import InstallationKeys
from privacy.call_keys import call_data_key, open_text, seal_text
from signaling.models import Call, ChatMessage

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


async def _run(url: str, lines: int, calls: int) -> None:
    await migrate.upgrade(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine, keys=InstallationKeys(secrets.token_bytes(32)))
    try:
        call_ids = await _calls(sessions, calls)
        await _store(sessions, call_ids, min(lines, 100), sealed=True)  # warm up both paths
        await _store(sessions, call_ids, min(lines, 100), sealed=False)
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(3):  # interleaved, so a slow moment of the machine hits both
            for sealed in (False, True):
                runs[sealed].append(await _store(sessions, call_ids, lines, sealed=sealed))
    finally:
        await engine.dispose()
    clear, sealed = statistics.median(runs[False]), statistics.median(runs[True])
    seal_us, open_us = _cpu(20_000)
    print(f"chat lines stored, one transaction each ({lines} lines over {calls} calls, median of 3 runs):")
    print(f"  in clear (baseline): {clear / lines * 1000:.3f} ms per line")
    print(f"  sealed with the call's data key: {sealed / lines * 1000:.3f} ms per line")
    print(f"  ratio sealed / clear: {sealed / clear:.2f}")
    print(f"AES-256-GCM alone, one {len(LINE)}-character line: seal {seal_us:.1f} us, open {open_us:.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loket-bench-") as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(_run(url, args.lines, args.calls))


if __name__ == "__main__":
    main()
