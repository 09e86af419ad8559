"""What keeps a run directory whole while it is written: one writer at a time, and a clean
stop on SIGINT or SIGTERM.

The lock is ``fcntl.flock`` on ``RUN/.lock``, held for the life of the fit: the kernel
releases it when the process ends however it ends (a SIGKILL included), so a crashed run
never leaves a stale lock, and a second writer learns who holds it from the file's text.
Systems without ``fcntl`` (Windows) run unlocked.

A signal does not stop the process where it lands (possibly between a backward pass and
the optimizer step); it sets a flag that the run recorder reads after each complete step,
then writes the last checkpoint and stops the fit with one line.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

from cnnlab.errors import CnnlabError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# A reader may hold the lock shared for an instant to ask whether a run is being written (the
# studio does); a writer retries this long before it names the holder.
PATIENCE_SECONDS = 1.0


class RunLock:
    """An exclusive lock on a run directory, held until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise one line naming the process that holds it."""
        if fcntl is None:
            return
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as error:
                if time.monotonic() < deadline:  # a reader's glance, not a writer: wait
                    time.sleep(0.02)
                    continue
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise CnnlabError(
                    f"{self.path.parent} is being written by {holder}; wait for it to finish, "
                    "or write to another folder"
                ) from error
        handle.seek(0)
        handle.truncate()
        command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()} since {started} ({command})\n")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing drops the flock
            self.handle = None


class SignalFlag:
    """SIGINT and SIGTERM set :attr:`received` instead of ending the process, while armed
    (only possible in the main thread; elsewhere the signals keep their handlers)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    def _set(self, number: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(number)

    def arm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._set)

    def disarm(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class TrainingInterrupted(CnnlabError):
    """The fit stopped on a signal, after saving its last checkpoint."""
