"""Code dependencies derived from imports: a synthetic package with a known import graph, and the real tree."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from landscape.code_deps import EXCLUDED, action_code, closure

SRC = Path(__file__).resolve().parents[1] / "src" / "landscape"
ROOT = SRC.parents[1]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """landscape/{a,b,c,d,config,tasks}.py and landscape/sub/{__init__,e}.py, importing at module level and inside."""
    files = {
        "a.py": "import landscape.b\n",
        "b.py": "def f():\n    from landscape import c\n",
        "c.py": "from landscape.config import X\nfrom landscape.sub import e\n",
        "d.py": "",
        "config.py": "from landscape import d\n",
        "sub/__init__.py": "",
        "sub/e.py": "",
        "tasks.py": textwrap.dedent("""\
            from landscape import config

            def _helper():
                from landscape import d

            def action():
                from landscape import a
                _helper()

            def other():
                from landscape.sub import e
            """),
    }
    root = tmp_path / "landscape"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _names(paths: list[Path], root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in paths}


def test_the_closure_follows_imports_inside_functions_and_stops_at_excluded_modules(package):
    got = closure(["landscape.a"], package)
    # config.py is excluded, so d.py (imported only by config.py) is not reached through c.py.
    assert _names(got, package) == {"a.py", "b.py", "c.py", "sub/e.py"}


def test_an_action_gets_its_own_imports_and_its_helpers_but_not_its_neighbours(package):
    got = action_code("action", package / "tasks.py", package)
    assert _names(got, package) == {"a.py", "b.py", "c.py", "d.py", "sub/e.py"}
    assert _names(action_code("other", package / "tasks.py", package), package) == {"sub/e.py"}


def test_a_missing_module_or_action_is_a_clear_error(package):
    (package / "a.py").write_text("import landscape.gone\n")
    with pytest.raises(ValueError, match="landscape.gone is imported but no file"):
        closure(["landscape.a"], package)
    with pytest.raises(ValueError, match="has no function 'renamed'"):
        action_code("renamed", package / "tasks.py", package)


def test_the_analyses_that_drifted_now_depend_on_the_band_definition():
    # The hand-typed lists omitted spectra.py for these two (issue 17): an edit to the bands left them stale.
    for name in ("example_grads", "trajectory"):
        assert SRC / "spectra.py" in closure([f"landscape.analyses.{name}"])
    noise = closure(["landscape.analyses.noise"])
    assert SRC / "analyses" / "noise.py" in noise
    assert not any(p.parent.name == "analyses" and p.name != "noise.py" for p in noise)  # never another analysis


def _dodo():
    from doit.doit_cmd import reset_vars

    reset_vars()  # outside a doit run get_var returns None instead of the default profile
    spec = importlib.util.spec_from_file_location("dodo_under_test", ROOT / "dodo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_code_lists_that_name_runs_and_hessians_match_the_derived_closures():
    # CORE and HESSIAN_CODE stay explicit in dodo.py because their digests are part of the run and Hessian
    # hashes (editing them renames every stored Hessian); they must still be what the actions import, except
    # modules that cannot change the numbers: the Dask engine (bitwise-identical, tests/test_engine.py) and
    # linesearch.py, which checkpoint.py imports for line evaluations a Hessian never makes.
    dodo = _dodo()
    relative = lambda paths: {p.relative_to(ROOT) for p in paths}  # noqa: E731
    assert relative(action_code("train")) == set(dodo.CORE)
    allowed_extra = {Path("src/landscape/engine.py"), Path("src/landscape/linesearch.py")}
    assert relative(action_code("hessian")) - allowed_extra == set(dodo.HESSIAN_CODE)
    assert {"landscape.config", "landscape.store"} <= EXCLUDED
