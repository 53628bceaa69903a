"""Memory and CPU of a process and its descendants, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The process and every process below it (through each thread's ``children`` list)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mib(pid: int) -> float:
    """Peak resident set (VmHWM) of the process plus that of each living descendant."""
    return sum(_status_kib(p, "VmHWM") for p in descendants(pid)) / 1024


def rss_mib(pid: int) -> float:
    return sum(_status_kib(p, "VmRSS") for p in descendants(pid)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process and its living descendants."""
    total = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def cpu_seconds_reaped(pid: int) -> float:
    """``cpu_seconds`` plus the CPU of the children the process has reaped (a server whose
    connections come and go, as PostgreSQL's postmaster with its backends)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return cpu_seconds(pid)
    return cpu_seconds(pid) + (int(fields[13]) + int(fields[14])) / TICKS  # cutime, cstime
