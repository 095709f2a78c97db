"""CPU time of processes, from ``/proc/<pid>/stat`` (proc(5)): utime + stime, all threads."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks) of a live process, or None when it is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = text.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): ppid is field 4, utime and stime fields 14 and 15.
    return int(fields[1]), int(fields[11]) + int(fields[12])


def cpu_seconds(pids: Iterable[int], *, descendants: bool = False) -> float:
    """CPU seconds the processes ``pids`` have used so far, with their live descendants' when
    ``descendants`` (a descendant that has exited is no longer counted, so sample processes
    that live through the window)."""
    roots = set(pids)
    if not descendants:
        return sum(stat[1] for pid in roots if (stat := _stat(pid)) is not None) / _TICKS_PER_SECOND
    table: dict[int, tuple[int, int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0, [pid for pid in roots if pid in table]
    seen: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += table[pid][1]
        stack += children.get(pid, [])
    return total / _TICKS_PER_SECOND
