"""The README's Python examples run and print what they say, and its commands are the ones CI runs.

The rule for ``print(...)  # comment`` lines: the comment is an *output claim* when it starts with
a value token (a number, a string, a bracket ``( [ {``, a sign, ``True``, ``False``, ``None``,
``nan`` or ``inf``); the statement's printed output must then equal the comment exactly. A
comment that starts with a word (``# a short table: ...``) is prose and is not compared.
"""

import ast
import contextlib
import io
import re
import tokenize
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
VALUE_NAMES = {"True", "False", "None", "nan", "inf"}
VALUE_OPS = {"(", "[", "{", "-", "+"}


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def is_output_claim(comment: str) -> bool:
    """Whether a comment (without its ``#``) claims a printed value, by its first token."""
    try:
        first = next(
            t
            for t in tokenize.generate_tokens(io.StringIO(comment.strip()).readline)
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT)
        )
    except (tokenize.TokenError, StopIteration, SyntaxError):
        return False
    return (
        first.type in (tokenize.NUMBER, tokenize.STRING)
        or (first.type == tokenize.OP and first.string in VALUE_OPS)
        or (first.type == tokenize.NAME and first.string in VALUE_NAMES)
    )


def _comments(block: str) -> dict[int, str]:
    """Line number -> the comment on that line (without ``#``)."""
    return {
        t.start[0]: t.string[1:].strip()
        for t in tokenize.generate_tokens(io.StringIO(block).readline)
        if t.type == tokenize.COMMENT
    }


def _is_print(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == "print"
    )


def run_and_collect_claims(block: str, where: str) -> list[tuple[int, str, str]]:
    """Run `block` statement by statement; return ``(line, claim, printed)`` for every print
    statement whose comment is an output claim."""
    comments = _comments(block)
    namespace: dict = {}
    found = []
    for stmt in ast.parse(block).body:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(ast.Module([stmt], type_ignores=[]), where, "exec"), namespace)
        claim = comments.get(stmt.end_lineno, "")
        if _is_print(stmt) and is_output_claim(claim):
            found.append((stmt.end_lineno, claim, out.getvalue().strip()))
    return found


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_examples_run_and_print_what_they_say(index):
    where = f"README.md[python {index}]"
    for line, claim, printed in run_and_collect_claims(_blocks("python")[index], where):
        assert printed == claim, (
            f"{where}, line {line}: the README says {claim!r}, the code prints {printed!r}"
        )


def test_the_readme_makes_printed_claims():
    # The examples must hold the README to something: at least one print line claims its output.
    claims = [
        c for i, b in enumerate(_blocks("python")) for c in run_and_collect_claims(b, f"python {i}")
    ]
    assert claims, "no `print(...)  # value` line in the README's python blocks"


@pytest.mark.parametrize(
    "comment, claim",
    [
        ("(0, 1) {0: 1}", True),
        ("[1, 2]", True),
        ("{'a': 1}", True),
        ("-1.5", True),
        ("+2", True),
        ("3.0", True),
        ("7", True),
        ("True", True),
        ("False", True),
        ("None", True),
        ("nan", True),
        ("'text'", True),
        ('"text"', True),
        ("a short table: 7 stationary points, 1 maximum", False),
        ("the census", False),
        ("", False),
    ],
)
def test_output_claim_rule(comment, claim):
    assert is_output_claim(comment) is claim


def test_a_wrong_printed_value_fails():
    block = "print(1 + 1)  # 3\nprint('x')  # a word: prose, not compared\n"
    assert run_and_collect_claims(block, "example") == [(1, "3", "2")]


def test_two_commands_are_present():
    bash = "\n".join(_blocks("bash"))
    assert "ppca-stability demo" in bash
    assert "pytest" in bash
    assert "<!-- ci:test -->" in README.read_text()
