"""Artifact bundles: a build's expensive stages packed into one archive with a manifest, and placed again.

Training runs and exact Hessians of the ``paper`` profile cost GPU-hours; a reader who wants to redraw a
figure or rewrite a paragraph should not recompute them (showyourwork caches intermediate results the
same way). ``python -m landscape bundle PROFILE --stage runs|hessians|results OUT`` packs the artifacts up
to that stage; ``python -m landscape unbundle ARCHIVE`` places them in another checkout, after which
``doit`` runs only what comes later.

Trust comes from the graph, not from the archive. The manifest lists each file's path, size, sha256, the
task that made it, the hash of the inputs it was made for (the hash the graph compares to decide whether
a target is current, which the HDF5 file also carries as ``config_hash``) and the producing commit.
``unbundle`` refuses, before placing anything, an archive it cannot read, a file whose bytes differ from
the manifest, a hash that differs from what this checkout's graph computes (another configuration or
code), and a path outside ``build/<profile>/`` or ``figures/<profile>/``. A resumable ``.partial`` file of
an unfinished task travels too, and resumes where the bundle's build stopped.

doit's own record of a finished task (a row of ``build/<profile>/.doit.db``) travels with the task's
targets, its absolute paths written relative to the repository, so that doit sees the placed tasks as
done; doit still checks every file dependency's content itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from landscape import config, integrity, lock, paths
from landscape.store import REPO_ROOT, atomic_path, git_state

# Which graph stages each bundle stage carries: every stage includes the ones before it.
STAGES = {
    "runs": ("train",),
    "hessians": ("train", "hessian", "spectrum_batch"),
    "results": ("train", "hessian", "spectrum_batch", "analysis"),
}
MANIFEST = "manifest.json"
FORMAT = 1
ROOT_MARK = "{repository}"  # stands for the repository's absolute path in doit's records
CHUNK = 1 << 20


class BundleError(Exception):
    """A bundle that cannot be written or placed; the message names the file and what to do."""


@dataclass(frozen=True)
class GraphTask:
    """One task of the build graph whose targets a bundle may carry."""

    name: str
    stage: str
    targets: tuple[Path, ...]
    input_hash: str


def graph_tasks(profile: str) -> dict[str, GraphTask]:
    """The graph's training, Hessian, batch-spectrum and analysis tasks of ``profile`` by name (dodo.artifact_tasks)."""
    from doit import doit_cmd

    doit_cmd.reset_vars()
    doit_cmd.set_var("profile", profile)
    spec = importlib.util.spec_from_file_location("landscape_graph", REPO_ROOT / "dodo.py")
    if spec is None or spec.loader is None:
        raise BundleError(f"{REPO_ROOT / 'dodo.py'}: missing; run this from a checkout of the repository")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        t["name"]: GraphTask(t["name"], t["stage"], tuple(t["targets"]), t["input_hash"])
        for t in module.artifact_tasks()
    }


def _digests(stream: BinaryIO) -> tuple[int, str, str]:
    """Size, sha256 and md5 (doit's checker) of everything ``stream`` yields."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    while chunk := stream.read(CHUNK):
        sha.update(chunk)
        md5.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest(), md5.hexdigest()


def _stored_attrs(path: Path) -> dict[str, str]:
    """The input hash and commit an HDF5 artifact carries (empty strings where it carries none)."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return {
                key: str(fh.attrs.get(attr, "")) for key, attr in (("hash", "config_hash"), ("commit", "git_commit"))
            }
    except OSError as err:
        raise BundleError(f"{path}: not a readable HDF5 file ({err})") from err


def _partial(target: Path) -> Path:
    """Where the task of ``target`` keeps its resumable work (train.py and hessian.py name it so)."""
    return target.with_name(target.name + ".partial")


def _relative(path: Path) -> str:
    return path.resolve().relative_to(REPO_ROOT).as_posix()


def _doit_rows(profile: str, names: set[str]) -> dict[str, Any]:
    """The doit records of the tasks ``names``, with the repository's path replaced by ``ROOT_MARK``."""
    database = paths.build_dir(profile) / ".doit.db"
    if not database.is_file():
        return {}
    with sqlite3.connect(database) as conn:
        rows = dict(conn.execute("select task_id, task_data from doit").fetchall())
    return {name: json.loads(rows[name].replace(str(REPO_ROOT), ROOT_MARK)) for name in names if name in rows}


def _entries(profile: str, stage: str) -> tuple[list[dict[str, Any]], set[str]]:
    """The manifest's file entries for ``stage`` and the names of the tasks whose every target is current."""
    entries, finished = [], set()
    for task in graph_tasks(profile).values():
        if task.stage not in STAGES[stage]:
            continue
        current = 0
        for target in task.targets:
            for path, complete in ((target, True), (_partial(target), False)):
                if not path.is_file() or (complete and integrity.damaged(path)):
                    continue
                stored = _stored_attrs(path)
                if stored["hash"] != task.input_hash:
                    continue  # made for other inputs: doit would rebuild it, so it is not worth carrying
                with open(path, "rb") as fh:
                    size, sha256, _ = _digests(fh)
                entries.append(
                    {
                        "path": _relative(path),
                        "size": size,
                        "sha256": sha256,
                        "task": task.name,
                        "input_hash": task.input_hash,
                        "commit": stored["commit"],
                        "complete": complete,
                    }
                )
                current += complete
        if current == len(task.targets):
            finished.add(task.name)
    return entries, finished


def bundle(profile: str, stage: str, out: Path) -> dict[str, Any]:
    """Write the artifacts of ``profile`` up to ``stage`` to the archive ``out`` (``.tar`` or ``.tar.gz``).

    Holds the build lock, so that no running build changes a file while it is read. Returns the manifest.
    """
    if stage not in STAGES:
        raise BundleError(f"stage {stage!r}: unknown; allowed: {', '.join(STAGES)}")
    handle = lock.hold(paths.build_dir(profile))
    try:
        entries, finished = _entries(profile, stage)
        if not entries:
            raise BundleError(
                f"{paths.build_dir(profile)}: no current artifact of stage {stage!r}; build it first "
                f"(doit profile={profile})"
            )
        commit, dirty = git_state()
        manifest = {
            "format": FORMAT,
            "profile": profile,
            "stage": stage,
            "commit": commit,
            "dirty": dirty,
            "files": entries,
            "doit": _doit_rows(profile, finished),
        }
        _write_archive(out, manifest)
    finally:
        handle.close()
    return manifest


def _write_archive(out: Path, manifest: dict[str, Any]) -> None:
    """The manifest first, then every file, with fixed owners and modes; written atomically."""
    mode = "w:gz" if out.name.endswith((".tar.gz", ".tgz")) else "w"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, tarfile.open(tmp, mode) as archive:
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        archive.addfile(_member(MANIFEST, len(data)), io.BytesIO(data))
        for entry in manifest["files"]:
            with open(REPO_ROOT / entry["path"], "rb") as fh:
                archive.addfile(_member(entry["path"], entry["size"]), fh)


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info


def _allowed(path: str, profile: str) -> Path:
    """``path`` under this checkout, refused unless it lies inside build/<profile>/ or figures/<profile>/."""
    pure = PurePosixPath(path)
    inside = pure.parts[:2] in (("build", profile), ("figures", profile)) and len(pure.parts) > 2
    if pure.is_absolute() or ".." in pure.parts or not inside:
        raise BundleError(f"{path}: outside build/{profile}/ and figures/{profile}/; the bundle is refused")
    return REPO_ROOT / pure


def _read_manifest(archive: tarfile.TarFile, source: Path) -> dict[str, Any]:
    first = archive.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise BundleError(f"{source}: does not start with {MANIFEST}; not a bundle of this project")
    stream = archive.extractfile(first)
    try:
        manifest = json.loads(stream.read()) if stream else None
    except ValueError as err:
        raise BundleError(f"{source}: {MANIFEST} is not JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{source}: {MANIFEST}: format {manifest and manifest.get('format')!r}; allowed: {FORMAT}")
    return manifest


def _checked_entries(manifest: dict[str, Any], source: Path) -> dict[str, tuple[dict[str, Any], Path]]:
    """Every manifest entry, by path, with where it goes; refused unless this checkout's graph wants it."""
    profile = manifest.get("profile")
    if profile not in config.available():
        raise BundleError(f"{source}: profile {profile!r} is not in configs/; allowed: {', '.join(config.available())}")
    wanted = graph_tasks(profile)
    checked: dict[str, tuple[dict[str, Any], Path]] = {}
    for entry in manifest.get("files", []):
        target = _allowed(entry["path"], profile)
        task = wanted.get(entry["task"])
        if task is None:
            raise BundleError(f"{source}: {entry['path']}: task {entry['task']!r} is not in this checkout's graph")
        goes_to = {t.resolve() for t in task.targets}
        if not entry["complete"]:
            goes_to = {_partial(t) for t in goes_to}
        if target.resolve() not in goes_to:
            raise BundleError(f"{source}: {entry['path']}: not a file task {task.name} makes")
        if entry["input_hash"] != task.input_hash:
            raise BundleError(
                f"{source}: {entry['path']}: made for inputs {entry['input_hash']} (commit {entry['commit']}), "
                f"but this checkout's graph wants {task.input_hash}: its configuration or code differs; "
                f"check out the bundle's commit {manifest.get('commit')} or rebuild with doit profile={profile}"
            )
        if entry["path"] in checked:
            raise BundleError(f"{source}: {entry['path']} is listed twice")
        checked[entry["path"]] = (entry, target)
    return checked


def _staged(archive: tarfile.TarFile, entries: dict, staging: Path, source: Path) -> Iterator[tuple[dict, Path, str]]:
    """Each member written to ``staging`` and checked against its entry: (entry, staged file, md5)."""
    seen = set()
    for index, member in enumerate(archive):
        if index == 0:
            continue  # the manifest, read already
        if member.name not in entries or not member.isfile() or member.name in seen:
            raise BundleError(f"{source}: member {member.name!r} is not a regular file the manifest lists once")
        seen.add(member.name)
        entry, _ = entries[member.name]
        staged = staging / str(index)
        stream = archive.extractfile(member)
        with open(staged, "wb") as out, _Tee(stream, out) as tee:
            size, sha256, md5 = _digests(tee)
        if (size, sha256) != (entry["size"], entry["sha256"]):
            raise BundleError(f"{source}: {member.name}: its bytes differ from the manifest (damaged archive)")
        if _stored_attrs(staged)["hash"] != entry["input_hash"]:
            raise BundleError(f"{source}: {member.name}: carries another input hash than its manifest entry")
        yield entry, staged, md5
    missing = set(entries) - seen
    if missing:
        raise BundleError(f"{source}: the manifest lists files the archive lacks: {sorted(missing)[:5]}")


class _Tee:
    """A readable stream that copies what is read into ``sink``."""

    def __init__(self, stream: BinaryIO | None, sink: BinaryIO) -> None:
        if stream is None:
            raise BundleError("an archive member cannot be read")
        self.stream, self.sink = stream, sink

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.sink.write(chunk)
        return chunk

    def __enter__(self) -> _Tee:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def unbundle(source: Path) -> dict[str, Any]:
    """Verify the bundle ``source`` entirely, then place its files and doit's records; returns the manifest.

    Nothing is placed unless every member matches the manifest and the manifest matches this checkout.
    """
    try:
        archive = tarfile.open(source, "r:*")
    except (OSError, tarfile.TarError, EOFError) as err:
        raise BundleError(f"{source}: not a readable archive ({err}); download it again") from err
    with archive:
        try:
            manifest = _read_manifest(archive, source)
            entries = _checked_entries(manifest, source)
            build = paths.build_dir(manifest["profile"])
            handle = lock.hold(build)
            try:
                staging = Path(tempfile.mkdtemp(prefix=".unbundle-", dir=build))
                try:
                    staged = list(_staged(archive, entries, staging, source))
                    _place(manifest, staged)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            finally:
                handle.close()
        except (tarfile.TarError, EOFError, OSError, KeyError, TypeError) as err:
            raise BundleError(f"{source}: damaged or malformed bundle ({type(err).__name__}: {err})") from err
    return manifest


def _place(manifest: dict[str, Any], staged: list[tuple[dict, Path, str]]) -> None:
    """Move the verified files into place, record their signatures, then doit's records of their tasks."""
    placed = {}
    for entry, path, md5 in staged:
        target = REPO_ROOT / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        if entry["complete"]:
            integrity.record([target])
            _partial(target).unlink(missing_ok=True)
        placed[str(target)] = md5
    rows = json.loads(json.dumps(manifest.get("doit", {})).replace(ROOT_MARK, str(REPO_ROOT)))
    for row in rows.values():
        for dependency, md5 in placed.items():
            if dependency in row:  # doit compares time stamps first: record the placed file's
                stat = os.stat(dependency)
                row[dependency] = [stat.st_mtime, stat.st_size, md5]
    database = paths.build_dir(manifest["profile"]) / ".doit.db"
    with sqlite3.connect(database) as conn:
        conn.execute("create table if not exists doit (task_id text not null primary key, task_data json)")
        conn.executemany(
            "insert or replace into doit (task_id, task_data) values (?, ?)",
            [(name, json.dumps(row)) for name, row in rows.items()],
        )
