"""Collection for the whole repository: skip the optional PyTorch module's doctests when torch is absent.

``ppca_stability/deep.py`` raises ImportError (naming the ``deep`` extra) without torch, which
``--doctest-modules`` would report as a collection error; its tests skip themselves.
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["ppca_stability/deep.py"]
