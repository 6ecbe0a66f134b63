"""The README's Python examples run, and its commands are the ones CI runs."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_examples_run(index, capsys):
    exec(compile(_blocks("python")[index], f"README.md[python {index}]", "exec"), {})


def test_two_commands_are_present():
    bash = "\n".join(_blocks("bash"))
    assert "ppca-stability demo" in bash
    assert "pytest" in bash
    assert "<!-- ci:test -->" in README.read_text()
