"""How many latents of a result are live and how many collapsed: one definition for every result
class that has latent columns (the pPCA and ELBO stationary points, the pPCA fit)."""

from __future__ import annotations

__all__ = ["LatentCounts"]


class LatentCounts:
    """Mixin: `n_active`, the live (non-collapsed) latent columns, and `n_collapsed`, the rest.

    A class that mixes it in has `latent_dim` (its latent columns, live and collapsed) and
    `active` (0-based indices, one per live column); a class that knows its live columns only
    from its loadings overrides ``_n_live`` instead.
    """

    __slots__ = ()

    active: tuple[int, ...]

    @property
    def latent_dim(self) -> int:
        raise NotImplementedError

    def _n_live(self) -> int:
        return len(self.active)

    @property
    def n_active(self) -> int:
        """Live (non-collapsed) latent columns: ``k``."""
        return self._n_live()

    @property
    def n_collapsed(self) -> int:
        """Dead (collapsed) latent columns: ``q - k``."""
        return self.latent_dim - self.n_active
