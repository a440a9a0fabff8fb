"""Processes that never outlive the one that started them: a notebook's kernel, the MATH grading worker.

ipykernel ends a kernel whose parent (papermill, a Jupyter server) has gone, from a thread that polls once a
second; but that thread needs Python's global lock, which a long computation in C holds (a kernel busy in
`9**(9**9)` outlived a killed papermill at 98% CPU, issue 34). Linux's parent-death signal needs nothing of
the process: `die_with_parent` asks for SIGKILL the moment the parent ends. Linux delivers it when the *thread*
that started this process ends, so a process started from a short-lived thread is stopped with that thread
(the grading worker is then restarted on its next use). Elsewhere than Linux this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> bool:
    """SIGKILL this process when `parent` (its parent now) ends; False (and nothing done) where `parent` is not
    this process's parent (then the caller is not what it thinks it is) or where Linux's prctl is not there."""
    if not sys.platform.startswith("linux") or os.getppid() != parent:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent ended before the request took hold
        os._exit(1)
    return True


def kernel_dies_with_its_parent() -> bool:
    """In a Jupyter kernel (whose parent set JPY_PARENT_PID to its own pid when it started it), `die_with_parent`.
    A process that merely inherited the variable (a Ray worker, a subprocess of the kernel) has another parent and
    is left alone."""
    parent = os.environ.get("JPY_PARENT_PID", "")
    return parent.isdigit() and die_with_parent(int(parent))
