"""One runner per output folder (two once overwrote each other's summary CSV): a lock file
created with O_CREAT | O_EXCL, naming its holder. A lock left by a dead process on this host
is taken over; one from another host is not (its process cannot be checked from here)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

logger = logging.getLogger(__name__)


class LockHeldError(RuntimeError):
    pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process that its parent has not reaped yet is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


class StudyLock:
    def __init__(self, path: Path, on_takeover: Callable[[str], None] = logger.warning):
        self.path = Path(path)
        self.on_takeover = on_takeover
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            started = datetime.now(timezone.utc).isoformat(timespec="seconds")
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": started}
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({**holder, "command": " ".join(sys.argv)}, f)
            self.held = True
            return
        raise LockHeldError(f"could not create {self.path}: other runners keep racing for it")

    def _read(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return None  # being written right now, or not ours

    def _take_over_if_stale(self) -> None:
        holder = self._read(self.path)
        if holder == {}:
            return  # released meanwhile: retry
        if not holder:
            raise LockHeldError(
                f"{self.path} exists but cannot be read; delete it if no runner is alive"
            )
        who = (
            f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started_at')} "
            f"({holder.get('command')})"
        )
        same_host = holder.get("host") == socket.gethostname()
        if not same_host or pid_alive(int(holder.get("pid", 0))):
            hint = "" if same_host else "; if no runner is alive on that host, delete the file"
            raise LockHeldError(f"another study runner holds {self.path}: {who}{hint}")
        # Move the stale lock aside, and check it is the one we judged (not a new runner's).
        aside = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if self._read(aside) != holder:
            os.rename(aside, self.path)
            return
        aside.unlink()
        self.on_takeover(f"took over the stale lock of {who}: that process is gone")

    def release(self) -> None:
        if self.held and (self._read(self.path) or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
