"""Helpers for testing the servers the project owns (FalkorDB, Azurite): processes and sockets as /proc sees them."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ensure_running_in_another_process(module: str, data_dir: Path) -> tuple[int, int, bool]:
    """(pid, port, started_here) of `module.ensure_running(data_dir)` in a run that exits leaving the server up."""
    script = (
        f"import json, sys; from {module} import ensure_running; "
        "s = ensure_running(sys.argv[1]); print(json.dumps([s.pid, s.port, s.started_here]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    pid, port, started_there = json.loads(result.stdout)
    return pid, port, started_there


def process_gone(pid: int, wait: float = 0.0) -> bool:
    """No process and no zombie left with this pid (after up to `wait` s for init to reap an orphan)."""
    deadline = time.monotonic() + wait
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on, from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # the process opens and closes descriptors while we look
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                address, port = local.split(":")
                found.add((address, int(port, 16)))
    return found
