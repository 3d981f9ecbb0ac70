"""One local host per data directory: a second one would share its broker, blob receipts and stores.

Two hosts on one folder both watch the same containers and write the same SQLite and LanceDB files: work runs
twice and counts come out wrong (seen: a second `tributary ingest` beside a running `tributary dev` reported fewer
vectors than chunks). The lock is an exclusive `flock` on a file in the folder, held for the host's lifetime; the
kernel drops it when the process dies, so a killed host never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.devhost.errors import DATA_DIR_IN_USE, StartupError
from shared.devhost.servers.local_server import command_line

LOCK_FILE = "host.lock"


@contextmanager
def data_dir_held(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir` for one host; StartupError `devhost.data_dir_in_use` at once when another host holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_file = data_dir / LOCK_FILE
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(data_dir, lock_file) from None
        # The holder's pid, for the message a second host prints (the lock itself is the flock, not this content).
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _in_use(data_dir: Path, lock_file: Path) -> StartupError:
    try:
        pid = int(lock_file.read_text().strip())
    except (OSError, ValueError):  # the holder has locked but not yet written its pid
        pid = None
    command = " ".join(command_line(pid)).strip() if pid else ""
    holder = f"pid {pid}: {command}" if command else f"pid {pid}" if pid else "pid not recorded yet"
    stop = f"`kill {pid}`" if pid else f"`fuser {lock_file}` names it"
    return StartupError(
        DATA_DIR_IN_USE,
        f"the data directory {data_dir} is in use by another Tributary host ({holder})",
        f"stop that host (Ctrl-C in its terminal, or {stop}), or give this one its own folder with --data-dir",
    )
