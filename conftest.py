"""Collection for the whole repository: skip the optional PyTorch module's doctests when torch is
absent.

``ppca_stability/deep/`` raises ImportError (naming the ``deep`` extra) without torch, which
``--doctest-modules`` would report as a collection error; its tests skip themselves.
"""

import importlib.util


def _has_torch() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["torch"] is None
        return False


collect_ignore = [] if _has_torch() else ["ppca_stability/deep"]
