"""Notebook reprs: every main result's `_repr_html_` is well-formed HTML tables (parsed with
`html.parser`) holding the numbers of its text repr in the same order, with text escaped."""

import re
from html.parser import HTMLParser

import numpy as np
import pytest

import ppca_stability as ps
from ppca_stability._base.html import render, repr_call, repr_facts

COV = np.diag([5.0, 3.0, 2.0, 1.0])
# A number as the reprs print it (not the digit in a name such as sigma2 or x_1).
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")
VOID = {"br", "hr", "img"}


class Tables(HTMLParser):
    """Checks that tags nest and close, and collects captions, and rows of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.captions: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "caption":
            self._caption = []

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "caption":
            self.captions.append("".join(self._caption))
            self._caption = None

    def handle_data(self, data):
        for sink in (self._cell, self._caption):
            if sink is not None:
                sink.append(data)
        if data.strip():
            self.text.append(data)


def parse(markup: str) -> Tables:
    tables = Tables()
    tables.feed(markup)
    tables.close()
    assert tables.stack == [], "unclosed tags"
    return tables


def _diagnostics(rng, latent_dim=4):
    mu = rng.normal(size=(120, latent_dim)) * np.linspace(1.0, 0.0, latent_dim)
    logvar = rng.normal(size=(120, latent_dim)) * 0.1
    return ps.collapse_diagnostics(mu, logvar)


RESULTS = {
    "StabilityMap": lambda c, rng: ps.stability_map(c, 30.0, latent_dim=5),
    "StabilityMap learned": lambda c, rng: ps.stability_map(COV, "learned", latent_dim=2),
    "PhaseDiagram": lambda c, rng: ps.phase_diagram(c, latent_dim=10),
    "ElboStabilityMap": lambda c, rng: ps.elbo_stability_map(c, 30.0, latent_dim=3),
    "LinearVAEFit": lambda c, rng: ps.fit_linear_vae(cov=COV, latent_dim=2, sigma2=1.5, rng=0),
    "CollapseDiagnostics": lambda c, rng: _diagnostics(rng),
    "CollapseDiagnostics long": lambda c, rng: _diagnostics(rng, latent_dim=20),
    "CollapseComparison": lambda c, rng: ps.compare_collapse(
        _diagnostics(rng, latent_dim=20), c, 30.0
    ),
    "PPCAResult": lambda c, rng: ps.ppca_mle(c, 5),
    "CollapsePrediction": lambda c, rng: ps.predict_collapse(
        c, latent_dim=20, beta=1.0, reconstruction="sse"
    ),
}


@pytest.mark.parametrize("name", list(RESULTS))
def test_html_repr_is_tables_with_the_text_reprs_numbers(name, digits_cov, rng):
    result = RESULTS[name](digits_cov, rng)
    text = repr(result)
    tables = parse(result._repr_html_())
    assert tables.tables and all(table for table in tables.tables)
    assert text.splitlines()[0].startswith(tables.captions[0])
    assert NUMBER.findall(" ".join(tables.text)) == NUMBER.findall(text)
    for table in tables.tables[1:]:  # row tables: every row as wide as the header
        assert {len(row) for row in table} == {len(table[0])}, table


def test_text_is_escaped():
    markup = render("A<b>&", [("x<y", "1 & 2")], [(("KL<eps",), [("<script>",)])], ["a > b"])
    assert "<script>" not in markup and "x<y" not in markup and "KL<eps" not in markup
    tables = parse(markup)
    assert tables.captions == ["A<b>&"]
    assert tables.tables[0] == [["x<y", "1 & 2"]] and tables.tables[1] == [["KL<eps"], ["<script>"]]
    assert "a > b" in tables.text


def test_collapse_tables_escape_their_headers(rng):
    markup = _diagnostics(rng)._repr_html_()
    assert "KL&lt;eps" in markup and "KL<eps" not in markup


def test_repr_facts_split_labels_from_values():
    lines = ["  global maximum  2 live, MAXIMUM", "  KL per latent [0.5, 0.1]", "  odd"]
    assert repr_facts(lines) == [
        ("global maximum", "2 live, MAXIMUM"),
        ("KL per latent", "[0.5, 0.1]"),
        ("odd", ""),
    ]
    assert repr_call("P(a=1, b=2 (x), c=-3.5)") == (
        "P",
        [("a", "1"), ("b", "2 (x)"), ("c", "-3.5")],
    )
