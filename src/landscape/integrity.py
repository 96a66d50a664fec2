"""Damaged artifacts: each target's size and modification time, recorded when its task made it, checked before reuse.

Every artifact is written atomically, so a file that differs from what its task wrote was changed from
outside: truncated, overwritten, edited by hand. doit alone would not notice (it checks that targets
exist, not what they hold). Each task therefore records its targets' signatures in a hidden sidecar
(``.<name>.sig`` beside the file) after it ran; a target whose signature no longer matches makes its
task out of date, and the skip-if-done checks of training and Hessians (``tasks._done``) refuse it, so
it is rebuilt rather than read. A target without a sidecar (made before this check existed) is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from landscape.store import atomic_path


def sidecar(target: Path) -> Path:
    """Where ``target``'s recorded signature lives."""
    return target.with_name(f".{target.name}.sig")


def signature(target: Path) -> list[int]:
    """Size in bytes and modification time in nanoseconds."""
    stat = target.stat()
    return [stat.st_size, stat.st_mtime_ns]


def record(targets: Iterable[str | Path]) -> None:
    """Record the signature of every existing target (the last action of each task)."""
    for target in map(Path, targets):
        if target.is_file():
            with atomic_path(sidecar(target)) as tmp:
                tmp.write_text(json.dumps(signature(target)))


def damaged(target: Path) -> bool:
    """Whether ``target`` exists but differs from what its task recorded (no record: not damaged)."""
    mark = sidecar(target)
    if not target.is_file() or not mark.is_file():
        return False
    try:
        return json.loads(mark.read_text()) != signature(target)
    except (OSError, ValueError):
        return True


def intact(targets: Iterable[str | Path]) -> Callable[[], bool]:
    """A doit ``uptodate`` check: False (rebuild) when any target is damaged, with a line naming it."""
    paths = [Path(t) for t in targets]

    def check() -> bool:
        changed = [p for p in paths if damaged(p)]
        for path in changed:
            print(f"{path}: changed since its task wrote it (size or time differs); rebuilding it")
        return not changed

    return check
