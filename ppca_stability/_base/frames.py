"""Tables as pandas DataFrames: what a result's ``to_frame()`` returns (pandas is the optional
``pandas`` extra, imported only here, when a frame is asked for)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .optional import require

__all__ = ["data_frame"]


def data_frame(columns: Mapping[str, Any], what: str, index_name: str | None = None) -> Any:
    """A `pandas.DataFrame` of `columns` (name -> one value per row); `what` names the caller
    in the one-line error when pandas is missing."""
    pandas = require("pandas", "pandas", what)
    frame = pandas.DataFrame(dict(columns))
    if index_name is not None:
        frame.index.name = index_name
    return frame
