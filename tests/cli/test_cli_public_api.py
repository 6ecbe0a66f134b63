"""The command line is a client of the public API: its modules import nothing from the package's
underscored (internal) modules except their own ``_cli`` siblings, the public
``ppca_stability.exceptions``, and ``_base.optional`` (infrastructure: the one way an optional
dependency is imported, so that a missing one is the same one-line error everywhere)."""

from __future__ import annotations

import ast
from pathlib import Path

import ppca_stability

CLI = Path(ppca_stability.__file__).parent / "_cli"
ALLOWED = {"exceptions"}  # public modules whose name happens to be importable directly
# Internal modules the command line may use: `require`, the package's optional-import rule.
INFRASTRUCTURE = {"_base.optional"}


def _internal_imports(path: Path) -> list[str]:
    """``from ..X import ...`` (or ``from ppca_stability.X``) where ``X`` is an underscored module
    outside ``_cli``: the offending ``module: names`` of one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 1:  # from ._io import ... : a sibling in _cli
            continue
        if node.level == 2:
            inner = module
        elif node.level == 0 and module.startswith("ppca_stability."):
            inner = module.removeprefix("ppca_stability.")
        else:
            continue
        top = inner.split(".")[0]
        if inner in INFRASTRUCTURE:
            continue
        if top.startswith("_") and top not in ALLOWED and top != "_cli":
            found.append(f"{module}: {', '.join(a.name for a in node.names)}")
    return found


def test_cli_modules_import_only_public_names():
    offending = {p.name: _internal_imports(p) for p in sorted(CLI.glob("*.py"))}
    offending = {name: found for name, found in offending.items() if found}
    assert not offending, offending


def test_the_walker_finds_an_internal_import(tmp_path):
    # The check above could pass by finding nothing at all: it must see an internal import.
    source = tmp_path / "x.py"
    source.write_text(
        "from .. import covariance\nfrom ._io import CliError\n"
        "from ..exceptions import DegeneracyWarning\nfrom .._spectra.covariance import covariance\n"
        "from ppca_stability._base.validation import check_rtol\n"
        "from .._base.optional import require\nfrom ppca_stability._base import optional\n"
    )
    assert _internal_imports(source) == [
        "_spectra.covariance: covariance",
        "ppca_stability._base.validation: check_rtol",
        "ppca_stability._base: optional",
    ]
