"""One build at a time per profile folder: an advisory lock that the operating system releases when its holder dies.

Two ``doit`` runs on one profile would take over each other's ``.partial`` files and doit state. The
first takes ``build/<profile>/.build.lock`` with ``flock`` and writes its PID there; a second is refused
with that PID. Because the kernel drops an ``flock`` when the process exits, is killed or crashes, a
lock never outlives its build: there is no stale lock to clean up.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

LOCK_NAME = ".build.lock"
# doit commands that only read the graph and its state; every other command (run, clean, forget, ...) may write.
READ_ONLY_COMMANDS = frozenset({"list", "info", "help", "dumpdb", "tabcompletion", "graph"})
# doit commands that write only doit's state or remove targets: they run no task, so they need no resources.
STATE_COMMANDS = frozenset({"clean", "forget", "ignore", "reset-dep"})
# doit options that take a value, so that the value is not mistaken for the command.
VALUED_OPTIONS = frozenset(
    {
        "-f",
        "--file",
        "-d",
        "--dir",
        "-n",
        "--process",
        "-P",
        "--parallel-type",
        "--db-file",
        "--backend",
        "--reporter",
        "-o",
        "--output-file",
        "--check_file_uptodate",
        "--codec-cls",
    }
)


class BuildLocked(RuntimeError):
    """Another process is building this profile folder, or the folder cannot be written at all."""


def writable_folder(folder: Path) -> Path:
    """``folder``, created if missing; :class:`BuildLocked` naming it if it cannot be (read-only, or a file)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise BuildLocked(
            f"{folder}: cannot write the build folder ({err.strerror or err}); make it (and its parents) a writable "
            "directory, or run from a checkout you can write to"
        ) from None
    return folder


def command(argv: Sequence[str]) -> str | None:
    """The doit command in ``argv`` (the arguments after the program), or None for the default (``run``)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in VALUED_OPTIONS:
            skip = True
        elif not arg.startswith("-") and "=" not in arg:
            return arg
    return None


def needs_lock(argv: Sequence[str]) -> bool:
    """Whether a doit invocation with these arguments may write to the build folder."""
    return command(argv) not in READ_ONLY_COMMANDS


def hold(folder: Path) -> TextIO:
    """Take ``folder``'s build lock, or raise :class:`BuildLocked` naming the process that holds it.

    Keep the returned file open for as long as the build runs: closing it, exiting or being killed
    releases the lock.
    """
    handle = open(writable_folder(folder) / LOCK_NAME, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise BuildLocked(
            f"{folder} is being built by {holder}; wait for that build to finish, or stop it "
            "(a stopped or killed build releases the lock at once)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"PID {os.getpid()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})")
    handle.flush()
    return handle


def runs_tasks(argv: Sequence[str]) -> bool:
    """Whether a doit invocation may run tasks (the default, ``run``, ``strace``, task names), not only read."""
    return needs_lock(argv) and command(argv) not in STATE_COMMANDS
