"""Optional dependencies: import them where they are used, or say which extra installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import `module`, or raise a one-line ModuleNotFoundError naming the extra that installs it
    (a ModuleNotFoundError, so that ``pytest.importorskip`` skips on it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ModuleNotFoundError(
            f"{purpose} needs {package}, which is not installed: "
            f'pip install "ppca_stability[{extra}]"',
            name=package,
        ) from None
