"""Pair a visitor with an adviser using nothing but Loket's public contract (REST + socket.io).

    python examples/pair.py --queue QUEUE_ID --key WIDGET_KEY --password ADVISER_PASSWORD

Values are the ones `loket serve --demo` prints. Prints how long pairing took.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp
import socketio


async def pair(url: str, queue: str, key: str, email: str, password: str, origin: str) -> float:
    async with aiohttp.ClientSession() as http:
        login = await http.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password})
        tokens = await login.json()
        session = await http.post(
            f"{url}/api/v1/widget/sessions", json={"widget_key": key}, headers={"Origin": origin}
        )
        visitor_session = await session.json()

    adviser, visitor = socketio.AsyncClient(), socketio.AsyncClient()
    accepted = asyncio.Event()

    @adviser.on("call:incoming", namespace="/adviser")
    async def ring(data: dict[str, Any]) -> None:
        await adviser.emit("call:accept", {"call_id": data["call_id"]}, namespace="/adviser")

    @visitor.on("call:accepted", namespace="/visitor")
    async def talking(data: dict[str, Any]) -> None:
        print("talking to", data["adviser"]["display_name"])
        accepted.set()

    await adviser.connect(url, namespaces=["/adviser"], auth={"token": tokens["access_token"]})
    await adviser.call("session:resume", {"last_seq": 0}, namespace="/adviser")
    await adviser.call("presence:set", {"status": "available"}, namespace="/adviser")
    await visitor.connect(url, namespaces=["/visitor"], auth={"token": visitor_session["visitor_token"]})

    started = time.monotonic()
    joined = await visitor.call("queue:join", {"queue_id": queue}, namespace="/visitor")
    print("joined:", joined)
    await asyncio.wait_for(accepted.wait(), timeout=10)
    elapsed = time.monotonic() - started

    ended = await visitor.call("call:end", namespace="/visitor")
    print("ended:", ended)
    await adviser.disconnect()
    await visitor.disconnect()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--origin", default="http://127.0.0.1:8080", help="an origin of the widget key")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--email", default="adviser@demo.loket.test")
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    elapsed = asyncio.run(pair(args.url, args.queue, args.key, args.email, args.password, args.origin))
    print(f"paired in {elapsed:.3f} s")


if __name__ == "__main__":
    main()
