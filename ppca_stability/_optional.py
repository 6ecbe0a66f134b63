"""Optional dependencies: import them where they are used, or say which extra installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import `module`, or raise an ImportError of one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ImportError(f"{purpose} needs {package}, which is not installed: "
                          f'pip install "ppca_stability[{extra}]"') from None
