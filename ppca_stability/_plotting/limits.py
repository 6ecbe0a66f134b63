"""Limits of the figures that callers without matplotlib need to know (this module imports
nothing heavy: the CLI and the package's public names read it)."""

__all__ = ["MAX_PLOTTED_POINTS"]

MAX_PLOTTED_POINTS = 500_000
"""`StabilityMap.plot` (and `ElboStabilityMap.plot`) draws every stationary point up to this
many; a larger map is drawn as a summary: the count of every Morse index, the global maximum and
a random sample of the points."""
