"""The README's Python examples run, and its commands are the ones CI runs."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_examples_run_and_print_what_they_say(index, capsys):
    block = _blocks("python")[index]
    exec(compile(block, f"README.md[python {index}]", "exec"), {})
    printed = capsys.readouterr().out.strip().splitlines()
    # A final `print(...)  # value` line promises its output: hold the README to it.
    last = [line for line in block.strip().splitlines() if line.startswith("print(")][-1]
    claim = last.partition("#")[2].strip()
    if claim[:1] in "({[0123456789":
        assert printed[-1] == claim


def test_two_commands_are_present():
    bash = "\n".join(_blocks("bash"))
    assert "ppca-stability demo" in bash
    assert "pytest" in bash
    assert "<!-- ci:test -->" in README.read_text()
