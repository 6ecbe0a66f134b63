"""HTML tables for notebooks: what a result's ``_repr_html_`` returns.

A result's HTML shows the numbers of its text ``repr``, formatted the same way: a caption (the
repr's first line), a two-column table of facts, and the repr's row tables with their column
headers. Every piece of text goes through `html.escape`; the markup is plain ``<table>``
elements with one class name, so it renders in Jupyter, VS Code and GitHub alike.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["render", "repr_call", "repr_facts", "repr_rows", "split_repr"]

Table = tuple[Sequence[str], Sequence[Sequence[Any]]]

# "  label   value" (label and value apart by two or more spaces, or by one before a list).
FACT = re.compile(r"^\s*(\S.*?)(?:\s{2,}|\s(?=\[))(\S.*)$")
STYLE = "border-collapse: collapse; margin: 0.2em 0"


def _cell(tag: str, value: Any, left: bool = False) -> str:
    align = ' style="text-align: left"' if left else ""
    return f"<{tag}{align}>{html.escape(str(value))}</{tag}>"


def render(
    title: str,
    facts: Sequence[tuple[str, Any]] = (),
    tables: Sequence[Table] = (),
    notes: Sequence[str] = (),
) -> str:
    """One ``<div>``: a table of `facts` (label, value), then each ``(header, rows)`` of `tables`
    as a table, then `notes` as paragraphs; `title` is the caption of the first table."""
    caption = f'<caption style="text-align: left"><b>{html.escape(title)}</b></caption>'
    parts = ['<div class="ppca-stability-result">']
    if facts or not tables:
        parts += [f'<table style="{STYLE}">', caption, "<tbody>"]
        for label, value in facts:
            parts.append(f"<tr>{_cell('th', label, left=True)}{_cell('td', value, left=True)}</tr>")
        parts += ["</tbody>", "</table>"]
        caption = ""
    for header, rows in tables:
        parts += [f'<table style="{STYLE}">', caption] if caption else [f'<table style="{STYLE}">']
        caption = ""
        parts.append("<thead><tr>" + "".join(_cell("th", h) for h in header) + "</tr></thead>")
        parts.append("<tbody>")
        for row in rows:
            parts.append("<tr>" + "".join(_cell("td", v) for v in row) + "</tr>")
        parts.append("</tbody></table>")
    for note in notes:
        parts.append(f"<p>{html.escape(note)}</p>")
    parts.append("</div>")
    return "\n".join(parts)


def repr_facts(lines: Sequence[str]) -> list[tuple[str, str]]:
    """``(label, value)`` of each ``"  label   value"`` line of a text repr (a line without such
    a gap is a label with an empty value): the HTML shows the repr's own text."""
    facts = []
    for line in lines:
        found = FACT.match(line)
        if found:
            facts.append((found.group(1), found.group(2)))
        else:
            label, _, value = line.strip().partition(": ")
            facts.append((label, value))
    return facts


def split_repr(text: str, first_column: str) -> tuple[str, list[str], list[str]]:
    """A text repr as ``(title, fact lines, table row lines)``: the table starts after its
    header, the first line whose first word is `first_column` (no table: every line is a fact)."""
    title, *lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [first_column]:
            return title, lines[:i], lines[i + 1 :]
    return title, lines, []


def repr_rows(lines: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """The cells of a text repr's table rows (whitespace-separated, the ``|`` between groups
    of columns dropped), and its ``"... n more"`` lines as notes."""
    rows, notes = [], []
    for line in lines:
        if line.strip().startswith("..."):
            notes.append(line.strip())
        else:
            rows.append([cell for cell in line.split() if cell != "|"])
    return rows, notes


def repr_call(line: str) -> tuple[str, list[tuple[str, str]]]:
    """``Name(a=1, b=x (y))`` as ``("Name", [("a", "1"), ("b", "x (y)")])``."""
    name, _, args = line.partition("(")
    pairs = re.findall(r"(\w+)=(.*?)(?=, \w+=|\)$)", args.strip() and "(" + args)
    return name, pairs
