"""Worker processes that end with the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def die_with_parent(parent: int, worker_id: int = 0) -> None:
    """End this forked worker when ``parent`` ends, even by SIGKILL (Linux).

    A forked worker shares its parent's open files, and with them any ``fcntl.flock`` (a run
    folder's, a data cache's); left orphaned, it would hold the lock and block the resume."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)
