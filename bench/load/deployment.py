"""A Loket deployment of the load tool's own (``--spawn``), set up and torn down around a run.

With the ``services`` backend (the default): a fresh PostgreSQL database
``loket_load_<random>`` (admin DSN ``LOKET_BENCH_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), upgraded with ``loket db upgrade``, and a
Redis key prefix ``loket-load:<random>:`` (``LOKET_BENCH_REDIS``, default
``redis://127.0.0.1:6379/0``). With ``embedded``: SQLite in a temporary directory and
in-memory realtime state, as ``make run`` has it.

Everything is provisioned with the CLI, as an operator would: ``loket org create``, ``loket
queue create``, one ``loket user create`` per adviser, ``loket widget-key create``. Then
``media_nodes`` media nodes (``loket media``) and one ``loket serve`` on a free port, with
``--no-media`` when there are media nodes. Every process runs in the temporary directory (no
``./data``, no ``.env`` of the checkout) with its logs there, trusts the tool as its proxy
(``LOKET_TRUSTED_PROXIES``, see ``bench.load.calls``), and is stopped at exit; the database
is dropped and the Redis keys deleted. ``LOKET_BENCH_KEEP_LOGS=1`` keeps the temporary directory
(the processes' logs) and prints where it is.

For the soak and socket benchmarks (``bench.soak``, ``bench.sockets``): ``settings`` adds
``LOKET_*`` settings to every process; ``hold_queue`` creates a second queue, ``Hold``, that no
adviser serves (the advisers then serve ``Load`` only), so visitors can wait there without
being rung; ``loop_lag`` starts the long-running processes under ``bench.looplag``, which
records how late each one's event loop runs (:meth:`Deployment.loop_lag`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from bench.load.calls import Credentials, Target
from bench.load.cpu import cpu_seconds
from bench.looplag import read_lag
from media.node import ClusterConfig, Registry

POSTGRES_ADMIN_DSN = os.environ.get("LOKET_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LOKET_BENCH_REDIS", "redis://127.0.0.1:6379/0")
ORIGIN = "https://load.loket.test"
LANGUAGE = "en"
BACKENDS = ("services", "embedded")


class DeploymentError(Exception):
    """The deployment could not be set up; the message says what to do."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loket_command() -> list[str]:
    script = Path(sys.executable).with_name("loket")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from loket.cli import main; main()"]


def require_media_command() -> None:
    """Raise :class:`DeploymentError` unless this Loket has the ``loket media`` command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
    probe = subprocess.run(
        [*_loket_command(), "media", "--help"], env=env, capture_output=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        raise DeploymentError(
            "`loket media` does not exist yet (issue 10, media nodes, is not finished): "
            "run with --media-nodes 0 to load the in-process media of `loket serve`"
        )


async def _postgres(statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _delete_redis_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class Deployment:
    """One ``loket serve`` (and ``media_nodes`` media nodes) provisioned for ``advisers``
    concurrent calls; a context manager. :attr:`target` is what the calls need."""

    def __init__(
        self,
        *,
        advisers: int,
        media_nodes: int = 0,
        backend: str = "services",
        settings: dict[str, str] | None = None,
        hold_queue: bool = False,
        loop_lag: bool = False,
    ) -> None:
        if advisers < 1 or media_nodes < 0 or backend not in BACKENDS:
            raise ValueError("at least one adviser, no negative media nodes, a known backend")
        if media_nodes and backend == "embedded":
            raise DeploymentError("media nodes need Redis: use --backend services")
        self.advisers = advisers
        self.media_nodes = media_nodes
        self.backend = backend
        self.target: Target | None = None
        self.hold_queue_id: str | None = None
        self.url = ""
        self._settings = dict(settings or {})
        self._hold_queue = hold_queue
        self._loop_lag = loop_lag
        self._dir = Path(tempfile.mkdtemp(prefix="loket-load-"))
        self._env: dict[str, str] = {}
        self._database: str | None = None
        self._redis_prefix: str | None = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the server's processes (and their children)."""
        return cpu_seconds([p.pid for p in self._processes.values()], descendants=True)

    def pids(self) -> dict[str, int]:
        """The process id of each process started (``serve``, the media nodes by id)."""
        return {name: process.pid for name, process in self._processes.items()}

    def loop_lag(self, name: str) -> list[tuple[float, float]]:
        """``(time.monotonic(), seconds late)`` samples of process ``name``'s event loop so far
        (``loop_lag=True`` only; empty otherwise)."""
        return read_lag(self._dir / f"{name}.lag") if self._loop_lag else []

    @property
    def media_node_ids(self) -> list[str]:
        """The ids of the media nodes started (each also names its process)."""
        return [f"load-media-{index}" for index in range(self.media_nodes)]

    def cluster(self) -> ClusterConfig:
        """The media cluster's settings, to read the registry (which node holds which call)."""
        if self._redis_prefix is None:
            raise DeploymentError("media nodes need the services backend")
        return ClusterConfig(
            redis_url=REDIS_URL, redis_prefix=self._redis_prefix, secret=self._env["LOKET_MEDIA_SECRET"]
        )

    def kill(self, node_id: str) -> None:
        """SIGKILL media node ``node_id``, as a crash would (no withdrawal, no goodbye)."""
        process = self._processes[node_id]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def start(self) -> None:
        if self.media_nodes:
            require_media_command()
        self._env = self._environment()
        cli = self._cli
        if self.backend == "services":
            cli("db", "upgrade")
        org = cli("org", "create", "Load Test Garage")
        queue = cli("queue", "create", "--org", org, "--name", "Load", "--language", LANGUAGE)
        key = cli("widget-key", "create", "--org", org, "--origin", ORIGIN)
        served: list[str] = []
        if self._hold_queue:
            self.hold_queue_id = cli(
                "queue", "create", "--org", org, "--name", "Hold", "--language", LANGUAGE
            )
            served = ["--queue", queue]
        password = secrets.token_urlsafe(16)
        emails = [f"adviser-{index}@load.loket.test" for index in range(self.advisers)]

        def create(email: str) -> str:
            return cli(
                "user", "create", "--org", org, "--email", email, "--role", "adviser",
                "--password-stdin", "--language", LANGUAGE, "--name", email.split("@")[0], *served,
                stdin=password,
            )  # fmt: skip

        # SQLite takes one writer at a time; PostgreSQL takes the two cores' worth.
        with ThreadPoolExecutor(max_workers=1 if self.backend == "embedded" else 3) as pool:
            list(pool.map(create, emails))
        self._start_media_nodes()
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        if self.media_nodes:
            serve.append("--no-media")
        self._spawn("serve", serve, env={"LOKET_PUBLIC_URL": self.url})
        self._wait_ready()
        self.target = Target(
            url=self.url,
            widget_key=key,
            origin=ORIGIN,
            queue_id=queue,
            advisers=tuple(Credentials(email, password) for email in emails),
            language=LANGUAGE,
        )

    def stop(self) -> None:
        """Stop the processes, drop the database and the Redis keys; idempotent."""
        for process in self._processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self._processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._processes = {}
        if self._database is not None:
            database, self._database = self._database, None
            with contextlib.suppress(Exception):
                asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        if self._redis_prefix is not None:
            prefix, self._redis_prefix = self._redis_prefix, None
            with contextlib.suppress(Exception):
                asyncio.run(_delete_redis_keys(REDIS_URL, prefix))
        if os.environ.get("LOKET_BENCH_KEEP_LOGS"):
            print(f"deployment logs kept in {self._dir}", file=sys.stderr)
        else:
            shutil.rmtree(self._dir, ignore_errors=True)

    # -- setting up --------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOKET_")}
        env.update(
            LOKET_SECRET_KEY=secrets.token_urlsafe(48),
            LOKET_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
            LOKET_SPOOL_DIR=str(self._dir / "spool"),
            LOKET_STORAGE_URL=f"file://{self._dir / 'recordings'}",
            LOKET_TRUSTED_PROXIES=json.dumps(["127.0.0.1/32"]),
        )
        env.update(self._settings)
        if self.backend == "embedded":
            env["LOKET_DATABASE_URL"] = f"sqlite+aiosqlite:///{self._dir / 'loket.db'}"
            return env
        name = f"loket_load_{secrets.token_hex(6)}"
        try:
            asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
        except (OSError, TimeoutError) as exc:
            raise DeploymentError(
                f"PostgreSQL is not reachable at {POSTGRES_ADMIN_DSN} ({exc}); "
                "set LOKET_BENCH_POSTGRES or use --backend embedded"
            ) from exc
        self._database = name
        base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        self._redis_prefix = f"loket-load:{secrets.token_hex(4)}:"
        env.update(
            LOKET_DATABASE_URL=f"{base}/{name}",
            LOKET_REDIS_URL=REDIS_URL,
            LOKET_REDIS_PREFIX=self._redis_prefix,
            # Nodes sharing Redis sign their internal media channel with it (media nodes, and
            # `loket serve`'s own media, which registers as one).
            LOKET_MEDIA_SECRET=secrets.token_urlsafe(32),
        )
        return env

    def _cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``loket ARGS``; its last line of output (a created id or key)."""
        done = subprocess.run(
            [*_loket_command(), *args],
            env=self._env,
            cwd=self._dir,
            input=None if stdin is None else stdin + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise DeploymentError(f"`loket {' '.join(args[:2])}` failed: {done.stderr.strip()[-500:]}")
        return done.stdout.strip().splitlines()[-1]

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        command = [*_loket_command(), *args]
        extra = dict(env or {})
        if self._loop_lag:
            command = [sys.executable, "-m", "bench.looplag", str(self._dir / f"{name}.lag"), *args]
            # The processes run in the temporary directory: find bench (and Loket) from there.
            root = str(Path(__file__).resolve().parents[2])
            extra["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        with (self._dir / f"{name}.log").open("wb") as log:
            self._processes[name] = subprocess.Popen(
                command,
                env={**self._env, **extra},
                cwd=self._dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _start_media_nodes(self) -> None:
        """``media_nodes`` media nodes (``loket media``), registered in the deployment's Redis."""
        if not self.media_nodes:
            return
        # The nodes share the deployment's Redis prefix and media secret; each has its id and spool.
        for node in self.media_node_ids:
            self._spawn(
                node,
                ["media"],
                env={"LOKET_MEDIA_NODE_ID": node, "LOKET_SPOOL_DIR": str(self._dir / node / "spool")},
            )
        self._wait_media_nodes()

    def _wait_media_nodes(self) -> None:
        cluster = self.cluster()

        async def registered() -> int:
            registry = Registry(cluster)
            await registry.start()
            try:
                return len(await registry.nodes())
            finally:
                await registry.stop()

        deadline = time.monotonic() + 60
        while asyncio.run(registered()) < self.media_nodes:
            self._check_alive()
            if time.monotonic() > deadline:
                raise DeploymentError(f"{self.media_nodes} media nodes did not register within 60 s")
            time.sleep(0.5)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:  # noqa: S310 (ours)
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        tail = (self._dir / "serve.log").read_text(errors="replace")[-2000:]
        raise DeploymentError(f"`loket serve` was not ready within 60 s:\n{tail}")

    def _check_alive(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                tail = (self._dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise DeploymentError(f"the spawned {name} process exited with {process.returncode}:\n{tail}")
