"""Regenerate the README's figures (docs/images/phase_digits.png and stability_map_digits.png).

Run from anywhere: python docs/make_figures.py. It is the demo, writing into docs/images.
"""

from pathlib import Path

from ppca_stability._cli import main

if __name__ == "__main__":
    raise SystemExit(main(["demo", "--out", str(Path(__file__).resolve().parent / "images")]))
