"""One build at a time per profile folder, tested with real processes: refused with the holder's PID, and free again
the moment the holder is killed."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landscape import lock

REPO = Path(__file__).resolve().parents[1]
HOLD = (
    "import sys, time; from pathlib import Path; from landscape.lock import hold; "
    "handle = hold(Path(sys.argv[1])); print('held', flush=True); time.sleep(120)"
)


def _holder(folder: Path) -> subprocess.Popen:
    """A separate process that takes the lock on ``folder`` and keeps it until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO / "src")},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def _try_lock(folder: Path) -> subprocess.CompletedProcess:
    code = (
        "import sys; from pathlib import Path; from landscape.lock import hold, BuildLocked\n"
        "try:\n    hold(Path(sys.argv[1]))\nexcept BuildLocked as err:\n    sys.exit(f'error: {err}')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(REPO / "src")},
    )


def test_a_second_process_is_refused_with_the_holders_pid_until_the_holder_is_killed(tmp_path):
    holder = _holder(tmp_path)
    try:
        refused = _try_lock(tmp_path)
        assert refused.returncode != 0 and f"PID {holder.pid}" in refused.stderr and str(tmp_path) in refused.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert _try_lock(tmp_path).returncode == 0  # a killed build leaves no stale lock


@pytest.mark.parametrize(
    ("argv", "command", "locks"),
    [
        ([], None, True),
        (["profile=smoke"], None, True),
        (["list", "--all"], "list", False),
        (["-f", "dodo.py", "info", "paper"], "info", False),
        (["profile=smoke", "figure:spectrum"], "figure:spectrum", True),
        (["forget", "paper"], "forget", True),
        (["-n", "2", "run"], "run", True),
    ],
)
def test_only_commands_that_may_write_take_the_lock(argv, command, locks):
    assert lock.command(argv) == command and lock.needs_lock(argv) is locks


def test_doit_refuses_a_second_build_of_a_profile_but_still_lists_it(tmp_path):
    """The real entry point: a copy of the project whose smoke folder is held by another process."""
    for item in ("dodo.py", "configs", "src"):
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy)(REPO / item, tmp_path / item)
    holder = _holder(tmp_path / "build" / "smoke")
    try:
        start = time.perf_counter()
        build = subprocess.run(
            [sys.executable, "-m", "doit", "profile=smoke"], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert build.returncode != 0 and f"PID {holder.pid}" in build.stderr + build.stdout
        assert time.perf_counter() - start < 60  # refused at once, nothing built
        listed = subprocess.run(
            [sys.executable, "-m", "doit", "list", "profile=smoke"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert listed.returncode == 0 and "paper" in listed.stdout
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not (tmp_path / "build" / "smoke" / "runs").exists()


def test_a_build_folder_that_cannot_be_written_is_named_without_a_traceback(tmp_path):
    """A read-only checkout or a file where build/ should be: one line naming the folder, for every doit command.

    The suite runs as root (CI), which may write read-only folders, so a file stands in the folder's way.
    """
    for item in ("dodo.py", "configs", "src"):
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy)(REPO / item, tmp_path / item)
    (tmp_path / "build").write_text("not a folder")
    for argv in (["profile=smoke"], ["list", "profile=smoke"]):
        proc = subprocess.run([sys.executable, "-m", "doit", *argv], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "cannot write the build folder" in proc.stderr and str(tmp_path / "build") in proc.stderr


def test_a_read_only_folder_inside_the_build_fails_its_task_in_one_line(tmp_path):
    """A task that meets a read-only runs/ or results/ fails with the path, not a traceback (doit prints the line)."""
    from doit.exceptions import TaskFailed

    from landscape.tasks import _plain_errors

    target = tmp_path / "runs" / "main.h5"

    @_plain_errors
    def write_run() -> None:
        raise PermissionError(13, "Permission denied", str(target))

    failed = write_run()
    assert isinstance(failed, TaskFailed) and str(target) in failed.message and "Permission denied" in failed.message
