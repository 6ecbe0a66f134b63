"""Heavy optional pieces load only when used: each check runs in a fresh interpreter (so they are
marked integration); and docs/api.md lists every public name."""

import subprocess
import sys

import pytest


def _loaded(code: str) -> list[str]:
    """Run `code` in a new interpreter; it prints one word per check."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def _imported(module: str) -> str:
    return f"any(m == {module!r} or m.startswith({module + '.'!r}) for m in sys.modules)"


@pytest.mark.integration  # a fresh interpreter
def test_importing_the_package_does_not_import_matplotlib():
    assert _loaded("import sys, ppca_stability; print('matplotlib' in sys.modules)") == ["False"]


@pytest.mark.integration  # a fresh interpreter
def test_importing_the_package_and_building_the_cli_does_not_import_sympy():
    code = (
        "import sys, ppca_stability, ppca_stability._cli as c; c.build_parser(); "
        "print('sympy' in sys.modules)"
    )
    assert _loaded(code) == ["False"]


@pytest.mark.integration  # a fresh interpreter
def test_importing_the_package_does_not_import_hypothesis_or_tqdm():
    code = "import sys, ppca_stability; print('hypothesis' in sys.modules, 'tqdm' in sys.modules)"
    assert _loaded(code) == ["False", "False"]


@pytest.mark.integration  # a fresh interpreter
def test_covariance_of_a_numpy_array_does_not_import_dask():
    code = (
        "import sys, numpy as np; from ppca_stability import covariance; covariance(np.eye(3)); "
        f"print({_imported('dask')})"
    )
    assert _loaded(code) == ["False"]


def test_every_public_name_has_an_api_reference_entry():
    import re
    from pathlib import Path

    import ppca_stability

    api = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    documented = set(re.findall(r":::\s*ppca_stability\.(\w+)", api))
    missing = [name for name in ppca_stability.__all__ if name not in documented]
    assert not missing, f"public names without an entry in docs/api.md: {missing}"


def test_every_public_submodule_name_has_an_api_reference_entry():
    """The public submodules documented by a ``members:`` list in docs/api.md list every public
    class and function of their ``__all__`` (constants excepted)."""
    import importlib
    import importlib.util
    import re
    from pathlib import Path

    api = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    entries = dict(
        re.findall(r":::\s*ppca_stability\.(\w+)\s*\n\s*options:\s*\n\s*members:\s*\[(.*?)\]", api)
    )
    assert {"datasets", "deep"} <= set(entries)
    for name, members in entries.items():
        if name == "deep" and importlib.util.find_spec("torch") is None:
            continue
        module = importlib.import_module(f"ppca_stability.{name}")
        listed = {m.strip() for m in members.split(",")}
        missing = [n for n in module.__all__ if not n.isupper() and n not in listed]
        assert not missing, f"ppca_stability.{name}: names missing from docs/api.md: {missing}"


@pytest.mark.integration  # a fresh interpreter
def test_importing_datasets_imports_neither_torch_nor_matplotlib():
    code = (
        "import sys, ppca_stability.datasets; "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    assert _loaded(code) == ["False", "False"]
