"""Run a command that handles untrusted input in a subprocess the kernel keeps on a leash.

A short launcher (``python -S -c``) lowers its own resource limits, then ``exec``s the command, which
inherits them: RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL one second later), RLIMIT_AS (address
space: allocations fail, Python raises MemoryError), RLIMIT_FSIZE 0 (it writes no files) and
RLIMIT_CORE 0. Setting limits in the child itself avoids ``preexec_fn``, which Python documents as
unsafe in a process with threads (ours runs Whisper in threads). The child gets an empty environment
(no ``LOKET_*`` secrets reach code parsing hostile bytes), its own session (the whole group is
killed), and a wall-clock timeout enforced here. Nothing blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from transcription.config import MIB, DecodeLimits
from transcription.errors import DecodeFailed

# Exit status of a child that caught MemoryError itself (see _decode_child.py).
EXIT_NO_MEMORY = 3
_STDERR_TAIL_BYTES = 4096
_REASON_CHARS = 300

_LAUNCHER = """\
import os, resource, sys
def lower(kind, value):
    soft, hard = resource.getrlimit(kind)
    ceiling = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (min(value, ceiling), ceiling))
cpu, memory = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
top = cpu + 1 if hard == resource.RLIM_INFINITY else min(cpu + 1, hard)
resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, top), top))
lower(resource.RLIMIT_AS, memory)
lower(resource.RLIMIT_FSIZE, 0)
lower(resource.RLIMIT_CORE, 0)
os.execv(sys.argv[3], sys.argv[3:])
"""


async def run_limited(
    argv: Sequence[str], limits: DecodeLimits, *, max_output_bytes: int, input_bytes: bytes | None = None
) -> bytes:
    """Run ``argv`` (``argv[0]`` an absolute executable) under ``limits`` and return its stdout.

    ``input_bytes``, when given, is fed to the child's stdin (then closed), so untrusted bytes
    received over the network reach the decoder without ever being written to disk.

    Raises ``DecodeFailed`` with a one-line reason when the child exits non-zero (its last line on
    stderr), is killed by a signal (a CPU limit shows as SIGXCPU), runs past
    ``limits.timeout_seconds``, or writes more than ``max_output_bytes``.
    """
    command = [
        sys.executable,
        "-I",
        "-S",
        "-c",
        _LAUNCHER,
        str(limits.cpu_seconds),
        str(limits.memory_bytes),
        *argv,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL if input_bytes is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={},
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    overflow = asyncio.Event()
    try:
        async with asyncio.timeout(limits.timeout_seconds):
            output, tail, returncode, _ = await asyncio.gather(
                _read_capped(process, process.stdout, max_output_bytes, overflow),
                _read_tail(process.stderr),
                process.wait(),
                _feed(process, input_bytes),
            )
    except TimeoutError:
        raise DecodeFailed(f"timed out after {limits.timeout_seconds:g} s") from None
    finally:
        if process.returncode is None:
            _kill_group(process)
            # Shielded so that a cancelled caller still reaps the child (no zombie left behind).
            await asyncio.shield(process.wait())
    if overflow.is_set():
        raise DecodeFailed(f"the decoder wrote more than {max_output_bytes} bytes of audio")
    if returncode != 0:
        raise DecodeFailed(_reason(returncode, tail, limits))
    return output


async def _read_capped(
    process: asyncio.subprocess.Process, stream: asyncio.StreamReader, cap: int, overflow: asyncio.Event
) -> bytes:
    data = bytearray()
    while chunk := await stream.read(1 << 16):
        if len(data) + len(chunk) > cap:
            overflow.set()
            _kill_group(process)
            break
        data += chunk
    return bytes(data)


async def _feed(process: asyncio.subprocess.Process, data: bytes | None) -> None:
    if data is None or process.stdin is None:
        return
    # A child that stops reading (it refused the input, or died) must not fail the caller here:
    # its exit status and stderr say why.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(data)
        await process.stdin.drain()
    process.stdin.close()


async def _read_tail(stream: asyncio.StreamReader) -> bytes:
    tail = b""
    while chunk := await stream.read(1 << 14):
        tail = (tail + chunk)[-_STDERR_TAIL_BYTES:]
    return tail


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # The child leads its own session (start_new_session): its process group id is its pid.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _reason(returncode: int, stderr_tail: bytes, limits: DecodeLimits) -> str:
    lines = [line.strip() for line in stderr_tail.decode("utf-8", "replace").splitlines() if line.strip()]
    last = lines[-1][:_REASON_CHARS] if lines else ""
    if returncode < 0:
        number = -returncode
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        if number == signal.SIGXCPU:
            return f"CPU time limit of {limits.cpu_seconds} s exceeded (killed by SIGXCPU)"
        if number == signal.SIGXFSZ:
            return "the decoder tried to write a file (killed by SIGXFSZ)"
        return f"the decoder was killed by {name}" + (f" ({last})" if last else "")
    if returncode == EXIT_NO_MEMORY or last.startswith("MemoryError") or last.endswith("MemoryError"):
        return f"memory limit of {limits.memory_bytes // MIB} MiB exceeded"
    return last or f"the decoder exited with status {returncode}"
