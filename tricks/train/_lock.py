"""The lock that keeps a second run from writing into a workdir that a run is writing.

An advisory ``fcntl.flock`` on ``WORKDIR/lock``, held for the whole run by the process
that writes (the chief): the kernel drops it when that process ends, however it ends (a
kill included), so a crashed run never leaves its workdir locked. Two processes on one
workdir had mixed their checkpoints (``Directory not empty: 'state.orbax-checkpoint-tmp'``)
and their records; now the second stops before writing anything, naming the first.
Reading a run (`tricks.train.load`, ``tricks eval``) takes no lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pathlib
import socket
import time
import warnings
from collections.abc import Iterator

from tricks.train._workdir import WorkdirError

LOCK_FILE = "lock"
"""The lock's file in the workdir; it holds the holder's pid, host and start time."""

_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)  # a file system without locks


@contextlib.contextmanager
def hold(workdir: str | pathlib.Path) -> Iterator[None]:
    """Holds `workdir`'s lock (creating the folder) until the block ends.

    On a file system that cannot lock, the block runs unlocked, with a warning.

    Raises:
        WorkdirError: another process holds the lock (its pid, host and start time named).

    Examples:
        >>> import tempfile
        >>> workdir = tempfile.mkdtemp()
        >>> with hold(workdir):
        ...     with hold(workdir):  # a second holder, as another process would be
        ...         pass
        Traceback (most recent call last):
        ...
        tricks.train._workdir.WorkdirError: ... is in use by another run (pid ... on ..., started ...); wait for it to end, or use another --workdir
        >>> with hold(workdir):  # released when its block ended
        ...     pass
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1000, 0).decode(errors="replace").strip() or "its pid not written yet"
            raise WorkdirError(f"{workdir} is in use by another run ({holder}); "
                               "wait for it to end, or use another --workdir") from None
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            warnings.warn(f"{workdir} cannot be locked ({exc.strerror}): a second run there would not be stopped",
                          RuntimeWarning, stacklevel=3)
        else:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                      .encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
