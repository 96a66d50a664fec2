"""Artifacts: a killed or failing writer leaves nothing at the target path; provenance is recorded."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import kill_on_event

from landscape.store import SchemaError, atomic_h5, provenance, read_h5, read_json, write_json

SLOW_WRITER = """
import sys, time
import numpy as np
from landscape.store import atomic_h5
with atomic_h5(sys.argv[1]) as fh:
    fh.create_dataset("half", data=np.zeros(1000))
    print("writing", flush=True)
    time.sleep(60)
    fh.create_dataset("rest", data=np.ones(1000))
"""


def test_killed_writer_leaves_no_file_at_target(tmp_path):
    target = tmp_path / "result.h5"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)], stdout=subprocess.PIPE)
    kill_on_event(proc, lambda line: line == "writing", "the writer's first dataset")
    assert not target.exists()
    assert list(tmp_path.glob(".result.h5.tmp-*")), "the killed writer's temporary file should be left hidden"
    with atomic_h5(target) as fh:
        fh.create_dataset("x", data=np.arange(3))
    assert target.exists() and not list(tmp_path.glob(".result.h5.tmp-*"))


def test_failing_writer_leaves_nothing(tmp_path):
    target = tmp_path / "result.json"
    with pytest.raises(RuntimeError):
        with atomic_h5(tmp_path / "x.h5"):
            raise RuntimeError("boom")
    write_json(target, {"a": 1})
    assert not (tmp_path / "x.h5").exists() and not list(tmp_path.glob(".*tmp*"))
    assert read_json(target) == {"a": 1}


def test_provenance_attributes_and_schema_check(tmp_path):
    target = tmp_path / "r.h5"
    with atomic_h5(target, provenance("smoke", "abc", "analysis:x")) as fh:
        fh.create_dataset("eigenvalues", data=np.arange(3.0))
    with h5py.File(target) as fh:
        assert fh.attrs["profile"] == "smoke" and fh.attrs["task"] == "analysis:x"
        assert "torch" in json.loads(fh.attrs["versions"])
    with pytest.raises(SchemaError, match=r"r\.h5: dataset 'eigenvectors' missing"):
        read_h5(target, ("eigenvalues", "eigenvectors"))
    with pytest.raises(FileNotFoundError, match="doit"):
        read_h5(tmp_path / "absent.h5")


def test_non_finite_numbers_are_written_as_strings(tmp_path):
    write_json(tmp_path / "v.json", {"x": float("nan"), "y": np.float32(1.5)})
    assert read_json(tmp_path / "v.json") == {"x": "nan", "y": 1.5}


def test_a_read_the_task_did_not_declare_is_logged(tmp_path, monkeypatch):
    from landscape.store import declare_inputs

    artifact, log = tmp_path / "a.h5", tmp_path / "reads.log"
    with h5py.File(artifact, "w") as fh:
        fh["x"] = np.zeros(2)
    monkeypatch.setenv("LANDSCAPE_READ_LOG", str(log))
    monkeypatch.setenv("LANDSCAPE_TASK", "")
    monkeypatch.setenv("LANDSCAPE_DECLARED", "")
    declare_inputs("declares it", [str(artifact.resolve())])
    read_h5(artifact).close()
    assert not log.exists()
    declare_inputs("declares nothing", [])
    read_h5(artifact).close()
    assert log.read_text() == f"declares nothing\t{artifact.resolve()}\n"
