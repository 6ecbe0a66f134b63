"""`no_huge_pages`: NumPy's huge-page advice off inside, restored after (also after an error),
and no effect on values."""

import numpy as np
import pytest

from ppca_stability._base import memory


def _advice() -> bool:
    switch = memory._switch()
    if switch is None:
        pytest.skip("this NumPy has no huge-page switch")
    previous = switch(True)
    switch(previous)
    return bool(previous)


def test_the_advice_is_off_inside_and_restored_after():
    before = _advice()
    with memory.no_huge_pages():
        assert _advice() is False
        A = np.arange(1_000_000.0)
    assert _advice() is before
    assert A[-1] == 999_999.0


def test_the_advice_is_restored_after_an_error():
    before = _advice()
    with pytest.raises(RuntimeError, match="inside"), memory.no_huge_pages():
        raise RuntimeError("inside")
    assert _advice() is before


def test_without_the_switch_the_context_changes_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_switch", lambda: None)
    with memory.no_huge_pages():
        assert float(np.ones(3).sum()) == 3.0
