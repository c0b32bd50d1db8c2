"""What a benchmark reads from /proc about a server and every process under it (uvicorn workers,
PostgreSQL backends): memory with shared pages counted once, and CPU time."""

from __future__ import annotations

import os
from pathlib import Path


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rollup_mb(pid: int) -> dict[str, float]:
    """/proc/PID/smaps_rollup in MB ({} for a process that is gone)."""
    found: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                found[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found


def pss_mb(pid: int) -> float:
    """Proportional set size of one process in MB (pages shared with others count partly)."""
    return _rollup_mb(pid).get("Pss", 0.0)


def memory_mb(pid: int) -> dict[str, float]:
    """RSS of one process split into its own memory (anonymous) and pages of files it maps (the
    memory-mapped indexes: the OS's page cache, shared and reclaimable)."""
    rollup = _rollup_mb(pid)
    rss, anonymous = rollup.get("Rss", 0.0), rollup.get("Anonymous", 0.0)
    return {
        "rss_mb": round(rss, 1),
        "anonymous_mb": round(anonymous, 1),
        "file_pages_mb": round(rss - anonymous, 1),
    }


def tree_pss_mb(pid: int) -> float:
    """PSS of a process and its live descendants: together, shared memory counted once."""
    return pss_mb(pid) + sum(tree_pss_mb(child) for child in _children(pid))


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, its live descendants, and the children they have reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return own + sum(tree_cpu_s(child) for child in _children(pid))
