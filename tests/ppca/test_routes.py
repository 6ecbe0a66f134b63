"""The route `stability_map` takes for a covariance: an exact count of the eigenvalues above its
cut (Sylvester's law of inertia) chooses between the partial routes and one full eigh, and the
choice changes the time only, never the map."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given
from hypothesis import strategies as hs

from ppca_stability import Spectrum, stability_map
from ppca_stability._base.tolerance import DEFAULT_RTOL, eigen_floor, n_above, tie_sign
from ppca_stability._ppca import route as st
from ppca_stability._spectra.container import from_eigenpairs
from ppca_stability._spectra.spectrum import WHOLE_DENOMINATOR, dense_cut, eigh_descending
from ppca_stability._spectra.sylvester import all_above, count_above
from ppca_stability.exceptions import DegeneracyWarning
from ppca_stability.strategies import sigma2_values, spectra

# An eigenvalue this many times d eps lam_max from the cut may be counted on either side of it
# (the factorisation is backward stable: exact for a matrix that close to S - cut I).
ROUNDOFF_MARGIN = 1e3
# Two exact routes (LAPACK on a subset, certified Krylov, the whole): round-off apart.
LOGLIK_RTOL = 1e-11
LOADINGS_ATOL = 1e-9
D = 64  # the family's size, with the partial route allowed from 8 features on


def _rotated(lam: np.ndarray, seed: int) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    return from_eigenpairs(lam, Q)


# ----------------------------------------------------------------------------- the count
@given(data=hs.data())
def test_sylvester_count_is_the_number_of_eigenvalues_above_the_cut(data):
    """count_above(S, cut) = #{lam > cut}, and at the cut the route uses for sigma2 it is the
    number of eigenvalues the map holds: those above sigma2 and those tied with it."""
    lam = data.draw(
        spectra(min_dim=1, max_dim=30, min_value=1e-6, max_value=1e6, ties=True, zeros=True)
    )
    S = _rotated(lam, data.draw(hs.integers(0, 2**16)))
    s = data.draw(sigma2_values(lam))
    d, trace = lam.size, float(lam.sum())
    cut = dense_cut(s, DEFAULT_RTOL, d, trace)
    margin = ROUNDOFF_MARGIN * d * np.finfo(np.float64).eps * float(lam[0])
    assume(np.all(np.abs(lam - cut) > margin))
    computed = np.linalg.eigvalsh(S)
    assert count_above(S, cut) == int(np.count_nonzero(computed > cut))
    # Ties as the map sees them: eigenvalues within the tie tolerance of sigma2 are not above it
    # (n_above) but are held; none lies between the cut and the tie band here.
    floor = eigen_floor(lam)
    band = s * (1.0 - DEFAULT_RTOL) - floor
    assume(not np.any((lam > cut - margin) & (lam < band + margin)))
    tied = int(np.count_nonzero(tie_sign(lam, s, DEFAULT_RTOL, floor) == 0))
    assert count_above(S, cut) == n_above(lam, s, DEFAULT_RTOL, floor) + tied


def test_sylvester_count_reads_the_two_by_two_blocks_of_indefinite_matrices():
    """Bunch-Kaufman pivots in 2 x 2 blocks on indefinite matrices; each holds one positive and
    one negative eigenvalue. Random symmetric matrices, shifted to many cuts."""
    rng = np.random.default_rng(7)
    blocks = 0
    for _ in range(40):
        d = int(rng.integers(1, 40))
        A = rng.standard_normal((d, d))
        S = (A + A.T) / 2
        lam = np.linalg.eigvalsh(S)
        for cut in np.r_[lam[0] - 1.0, (lam[:-1] + lam[1:]) / 2, lam[-1] + 1.0]:
            assert count_above(S, cut) == int(np.count_nonzero(lam > cut))
            blocks += int(np.count_nonzero(scipy.linalg.lapack.dsytrf(S - cut * np.eye(d))[1] < 0))
    assert blocks > 0, "no 2 x 2 pivot: the case is not exercised"


@given(data=hs.data())
def test_single_precision_count_is_exact_away_from_its_roundoff(data):
    """With single=True the count runs in float32 where the cut lies above float32's round-off
    threshold d eps_32 ||S||_F, and then equals #{lam > cut} for every eigenvalue farther than
    that from the cut; below the threshold it runs in float64."""
    from ppca_stability._spectra.sylvester import EPS32

    lam = data.draw(spectra(min_dim=2, max_dim=40, min_value=1e-3, max_value=1e3, ties=True))
    S = _rotated(lam, data.draw(hs.integers(0, 2**16)))
    cut = data.draw(hs.floats(float(lam[-1]) / 2, float(lam[0]) * 2))
    d = lam.size
    threshold = d * EPS32 * float(np.linalg.norm(S))
    assume(np.all(np.abs(lam - cut) > 100 * threshold))
    assert count_above(S, cut, single=True) == int(np.count_nonzero(lam > cut))
    # A cut below float32's threshold: float32 miscounts 17 of these 20 rotations.
    lam = np.r_[1e6, np.geomspace(4e-3, 1e-4, 8)]
    for seed in range(20):
        assert count_above(_rotated(lam, seed), 1e-3, single=True) == 4


def test_sylvester_count_of_a_singular_shift_counts_the_zero_pivot_as_not_above():
    S = np.diag([3.0, 2.0, 2.0, 1.0])
    assert count_above(S, 2.0) == 1
    assert count_above(S, 0.0) == 4
    assert count_above(np.zeros((3, 3)), 0.0) == 0


@given(data=hs.data())
def test_all_above_is_whether_every_eigenvalue_lies_above_the_cut(data):
    """all_above(S, cut) (a Cholesky factor of S - cut I) says whether count_above(S, cut) = d,
    in double precision and with single=True, for every cut farther than the count's round-off
    from each eigenvalue: below the spectrum, at the smallest eigenvalue's side, inside it."""
    from ppca_stability._spectra.sylvester import EPS32

    lam = data.draw(
        spectra(min_dim=1, max_dim=40, min_value=1e-3, max_value=1e3, ties=True, zeros=True)
    )
    S = _rotated(lam, data.draw(hs.integers(0, 2**16)))
    d = lam.size
    low = float(lam[-1])
    cut = data.draw(
        hs.one_of(
            hs.floats(-1.0, low),  # below every eigenvalue (zeros included)
            hs.floats(low, float(lam[0]) * 2),  # at or above the smallest
        )
    )
    threshold = d * EPS32 * float(np.linalg.norm(S))
    assume(np.all(np.abs(lam - cut) > 100 * threshold))
    expected = bool(np.all(lam > cut))
    assert all_above(S, cut) is expected
    assert all_above(S, cut, single=True) is expected
    assert all_above(S, cut) == (count_above(S, cut) == d)


def test_all_above_on_strided_submatrices_and_at_an_eigenvalue():
    """The route asks it of every other row and column of a C-ordered covariance (a strided
    view); an eigenvalue exactly at the cut is not above it (a zero pivot)."""
    lam = np.r_[np.geomspace(50.0, 5.0, 10), np.ones(70)]
    S = _rotated(lam, 11)
    half = S[::2, ::2]
    inner = np.linalg.eigvalsh(half)
    assert all_above(half, 0.5, single=True)
    assert all_above(half, float(inner[0]) * 0.99)
    assert not all_above(half, float(inner[0]) * 1.01)
    assert not all_above(half, 2.0, single=True)  # the bulk at 1 below it
    assert not all_above(np.diag([3.0, 2.0, 1.0]), 1.0)
    assert all_above(np.zeros((0, 0)), 1.0)


def test_all_above_a_cut_inside_single_precisions_round_off():
    """A cut below float32's round-off slack d eps_32 ||S||_F: a single-precision factor at the
    cut raised by twice the slack answers yes where every eigenvalue clears it; where one lies
    between the cut and the raised cut, or below the cut (rank-deficient data), double
    precision decides."""
    from ppca_stability._spectra.sylvester import EPS32

    rng = np.random.default_rng(21)
    d = 60
    A = rng.standard_normal((d, 2 * d))
    S = A @ A.T / (2 * d)
    slack = d * EPS32 * float(np.linalg.norm(S))
    lam = np.linalg.eigvalsh(S)
    assert lam[0] > 10 * slack  # clears the raised cut
    assert all_above(S, slack / 10, single=True) and all_above(S, -slack, single=True)
    # The smallest eigenvalue between the cut and the raised cut: only double precision says so.
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    values = np.r_[np.linspace(5.0, 1.0, d - 1), slack / 2]
    T = (Q * values) @ Q.T
    T = (T + T.T) / 2
    assert slack / 2 > 4 * d * np.finfo(np.float64).eps * 5.0  # resolved in double precision
    assert all_above(T, slack / 4, single=True)
    assert not all_above(T, slack, single=True)
    # Rank-deficient: zero eigenvalues below a tiny positive cut.
    B = rng.standard_normal((d, d // 2))
    low_rank = B @ B.T / d
    assert not all_above(low_rank, slack / 10, single=True)
    assert all_above(low_rank, -slack, single=True)


def test_all_above_in_single_precision_gives_its_roundoff_to_the_yes():
    """With single=True and the cut above three slacks (slack = d eps_32 ||S||_F), the question
    is asked of S - (cut - 2 slack) I: a smallest eigenvalue below the cut by half a slack (as a
    bulk tied with the cut) says yes where double precision says no; one below it by four
    slacks says no."""
    from ppca_stability._spectra.sylvester import EPS32

    rng = np.random.default_rng(21)
    d = 60
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]

    def with_smallest(value: float) -> np.ndarray:
        T = (Q * np.r_[np.linspace(5.0, 2.0, d - 1), value]) @ Q.T
        return (T + T.T) / 2

    slack_t = d * EPS32 * float(np.linalg.norm(with_smallest(1.0)))
    T = with_smallest(1.0 - slack_t / 2)
    assert slack_t / 2 > 1e6 * d * np.finfo(np.float64).eps * 5.0  # resolved in double
    assert all_above(T, 1.0, single=True) and not all_above(T, 1.0)
    assert 1.0 > 3 * slack_t
    assert not all_above(with_smallest(1.0 - 4 * slack_t), 1.0, single=True)


# ----------------------------------------------------------------------------- the route
def _family() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((D, D))
    spread = np.sort(rng.uniform(0.5, 1.5, D - 4))[::-1]
    return {
        "Wishart": (A @ A.T / D + (A @ A.T / D).T) / 2,
        "spiked, spread bulk": _rotated(np.r_[[50.0, 20.0, 9.0, 5.0], spread], 4),
        "power law": _rotated(1.0 / np.arange(1.0, D + 1), 5),
        "spiked, repeated bulk": _rotated(np.r_[[50.0, 20.0, 9.0, 5.0], np.ones(D - 4)], 6),
        "wide range 1e12": _rotated(np.logspace(12.0, 0.0, D), 7),
    }


FAMILY = _family()


def _cuts(lam: np.ndarray) -> dict[str, float]:
    def between(k: int) -> float:
        return float(0.5 * (lam[k - 1] + lam[k]))

    return {
        "median": float(np.median(lam)),
        "lam_2": between(2),
        "lam_8": between(8),  # d / 8 above
        "lam_9": between(9),  # one more than d / 8
        "at lam_3": float(lam[2]),  # a tie with sigma2
        "below all": float(lam[lam > 0][-1]) / 2,
    }


def _maps(S: np.ndarray, s: float, q: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        auto = stability_map(S, s, latent_dim=q)
        complete = stability_map(_complete_spectrum(S), s, latent_dim=q)
    return auto, complete


def _complete_spectrum(S: np.ndarray):
    return eigh_descending(S, vectors=True)


def _assert_same_map(auto, complete) -> None:
    assert auto.has_degeneracy == complete.has_degeneracy
    assert auto.n_above == complete.n_above and auto.n_points == complete.n_points
    if not complete.has_degeneracy or complete.n_points <= 5000:  # else enumeration is refused
        assert auto.stability_counts() == complete.stability_counts()
    if auto.n_points <= 5000:
        assert auto.census() == complete.census()
    ga, gb = auto.global_maximum, complete.global_maximum
    assert (ga.active, ga.stability, ga.morse_index) == (gb.active, gb.stability, gb.morse_index)
    assert ga.log_likelihood == pytest.approx(gb.log_likelihood, rel=LOGLIK_RTOL)
    if not complete.has_degeneracy:  # tied directions: W W^T is any of a family
        scale = max(float(complete.eigenvalues[0]), 1.0)
        np.testing.assert_allclose(
            ga.loadings @ ga.loadings.T, gb.loadings @ gb.loadings.T, atol=LOADINGS_ATOL * scale
        )


@pytest.fixture
def small_routes(monkeypatch):
    """The partial route from 8 features on, its LAPACK subset route too; records which of its
    routes ran."""
    monkeypatch.setattr(st, "PARTIAL_MIN_FEATURES", 8)
    monkeypatch.setattr(st, "SUBSET_MIN_FEATURES", 8)
    calls: list[str] = []
    for name in ("lanczos_above", "reduced_above", "eigh_descending"):
        original = getattr(st, name)

        def wrapper(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(st, name, wrapper)
    return calls


@pytest.mark.parametrize("top", [st.PARTIAL_TOP, 0], ids=["krylov", "lapack"])
@pytest.mark.parametrize("name", FAMILY)
def test_route_decision_gives_the_complete_route_map(name, top, small_routes, monkeypatch):
    """Over the family and its cuts, for latent_dim 3 and d: the partial route whenever at
    most d / 8 eigenvalues are held (above sigma2 or tied with it), by Krylov (or LAPACK's
    subset route of one tridiagonal reduction with PARTIAL_TOP = 0), and the same map as from
    the complete spectrum. With more, one reduction maps back the pairs held (a partial
    spectrum of exactly those) or, with nearly all of them held, gives every pair; or the bound
    by interlacing sends the cut straight to one eigh."""
    monkeypatch.setattr(st, "PARTIAL_TOP", top)
    monkeypatch.setattr(st, "GRADED_TOP", top)
    S = FAMILY[name]
    lam = _complete_spectrum(S).eigenvalues
    floor = eigen_floor(lam)
    for cut, s in _cuts(lam).items():
        held = int(np.count_nonzero(tie_sign(lam, s, DEFAULT_RTOL, floor) >= 0))
        for q in (3, D):
            small_routes.clear()
            auto, complete = _maps(S, s, q)
            partial = not auto.spectrum.is_complete
            assert partial or held > D // 8, (cut, held)
            if partial:
                assert auto.spectrum.eigenvalues.size == held
                if held > D // 8:  # many: mapped back alone from the reduction
                    assert small_routes == ["reduced_above"], cut
                    assert held * WHOLE_DENOMINATOR <= (WHOLE_DENOMINATOR - 1) * D
                elif held > top:
                    assert small_routes[0] == "reduced_above"
                else:  # ARPACK where the probes expect it to converge in few products (below)
                    assert small_routes[0] in ("lanczos_above", "reduced_above")
            else:
                assert small_routes in (["eigh_descending"], ["reduced_above"]), cut
            _assert_same_map(auto, complete)


@pytest.mark.parametrize("wrong", ["zero", "one short", "d / 8 for many"])
def test_a_wrong_count_costs_time_not_the_answer(wrong, small_routes, monkeypatch):
    """Round-off can move an eigenvalue near the cut across it in the count; the routes find the
    eigenvalues above the cut themselves, so even a count that is wrong outright (here forced)
    gives the complete route's map."""
    true_count = count_above
    fake = {
        "zero": lambda S, cut, single=False: 0,
        "one short": lambda S, cut, single=False: max(true_count(S, cut, single=single) - 1, 0),
        "d / 8 for many": lambda S, cut, single=False: min(true_count(S, cut), S.shape[0] // 8),
    }[wrong]
    monkeypatch.setattr(st, "count_above", fake)
    for name in ("spiked, spread bulk", "spiked, repeated bulk", "wide range 1e12"):
        S = FAMILY[name]
        lam = _complete_spectrum(S).eigenvalues
        for s in (_cuts(lam)["lam_2"], _cuts(lam)["lam_8"], _cuts(lam)["median"]):
            auto, complete = _maps(S, s, 3)
            _assert_same_map(auto, complete)


@pytest.fixture
def counted(monkeypatch):
    """The sizes of the matrices the route counts eigenvalues of (`count_above`), or asks whether
    every eigenvalue lies above the cut (`all_above`, as a negative size), in order."""
    sizes: list[int] = []
    monkeypatch.setattr(
        st,
        "count_above",
        lambda S, cut, single=False: sizes.append(S.shape[0]) or count_above(S, cut, single=single),
    )
    monkeypatch.setattr(
        st,
        "all_above",
        lambda S, cut, single=False: sizes.append(-S.shape[0]) or all_above(S, cut, single=single),
    )
    return sizes


def test_learned_sigma2_and_nearly_every_eigenvalue_above_take_one_eigh(small_routes, counted):
    """sigma2 learned needs every eigenvalue: no count. Below nearly every eigenvalue, the count
    on the principal submatrix of every fourth row and column (a lower bound by interlacing)
    already finds every one of its eigenvalues above the cut, as does the test on every other
    row and column (a Cholesky factor, not a count), and the full count is skipped;
    inside a bulk (at the median) the reduction maps back the half above; above few eigenvalues
    both counts run, smallest first (the probe's own counts, `GradedProbe`, are not the
    route's)."""
    S = FAMILY["Wishart"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        assert stability_map(S, "learned", latent_dim=3).spectrum.is_complete
    assert counted == [] and small_routes == ["eigh_descending"]
    lam = _complete_spectrum(S).eigenvalues
    quarter = len(range(0, D, 4))
    assert stability_map(S, _cuts(lam)["below all"], latent_dim=3).spectrum.is_complete
    assert counted == [quarter, -len(range(0, D, 2))] and small_routes[-1] == "eigh_descending"
    counted.clear()
    median = stability_map(S, _cuts(lam)["median"], latent_dim=3).spectrum
    assert median.eigenvalues.size == D // 2 and not median.is_complete
    assert counted == [quarter] and small_routes[-1] == "reduced_above"
    counted.clear()
    top = stability_map(S, _cuts(lam)["lam_2"], latent_dim=3)
    assert top.spectrum.eigenvalues.size == 2 and counted == [quarter, D]


def test_a_repeated_bulk_tied_with_sigma2_takes_one_eigh(small_routes, counted, monkeypatch):
    """sigma2 on a spiked identity's bulk (every eigenvalue above the cut or tied with it): the
    bound by interlacing, counted in double precision, finds every eigenvalue of the quarter
    submatrix above the cut (in single precision round-off moved 4 of its 16 below it, and the
    cut went to a reduction that then finished every pair from T), and every other row and
    column agrees up to single precision's round-off: one eigh, the complete route's map."""
    calls: list[bool] = []
    monkeypatch.setattr(
        st,
        "count_above",
        lambda S, cut, single=False: calls.append(single) or count_above(S, cut, single=single),
    )
    S = _rotated(np.r_[np.geomspace(50.0, 5.0, 6), np.ones(D - 6)], 16)
    auto, complete = _maps(S, 1.0, 3)
    assert calls == [False] and counted == [-len(range(0, D, 2))]
    assert small_routes == ["eigh_descending"] and auto.spectrum.is_complete
    _assert_same_map(auto, complete)


def test_a_graded_median_whose_quarter_submatrix_lies_above_goes_to_the_reduction(
    small_routes, counted
):
    """Compressed to every fourth row and column, a spectrum over twelve decades lies wholly
    above its median (the compression pulls eigenvalues toward the mean); every other row and
    column does not (its Cholesky factor fails), so the cut goes to the reduction, which maps back
    the half above, not to one eigh. The same map as the complete route's."""
    S = FAMILY["wide range 1e12"]
    lam = _complete_spectrum(S).eigenvalues
    auto, complete = _maps(S, _cuts(lam)["median"], 3)
    assert counted == [len(range(0, D, 4)), -len(range(0, D, 2))]
    assert small_routes == ["reduced_above"] and auto.spectrum.eigenvalues.size == D // 2
    _assert_same_map(auto, complete)


def test_a_high_bound_by_interlacing_goes_to_the_reduction_without_the_full_count(
    small_routes, counted, monkeypatch
):
    """When the principal submatrix already holds more than PARTIAL_TOP (and GRADED_TOP)
    eigenvalues above the cut (but at most d / 8), ARPACK is out of its range whatever the full
    count: the route skips that count and the reduction counts on its own T."""
    monkeypatch.setattr(st, "PARTIAL_TOP", 1)
    monkeypatch.setattr(st, "GRADED_TOP", 1)
    S = FAMILY["power law"]
    lam = _complete_spectrum(S).eigenvalues
    auto, complete = _maps(S, _cuts(lam)["lam_8"], 3)
    assert auto.spectrum.eigenvalues.size == 8
    assert counted == [len(range(0, D, 4))]
    assert small_routes == ["reduced_above"]
    _assert_same_map(auto, complete)


def test_a_low_bound_with_nearly_all_above_finishes_the_whole_decomposition_from_t(
    small_routes, monkeypatch
):
    """Interlacing bounds can be far below the count: sent to the reduction by a bound above
    PARTIAL_TOP, a cut with nearly every eigenvalue above it gets every pair from the same T (no
    second decomposition), and the map of the complete spectrum; with half above, those alone
    (the same map)."""
    monkeypatch.setattr(st, "PARTIAL_TOP", 1)
    monkeypatch.setattr(st, "GRADED_TOP", 1)
    monkeypatch.setattr(st, "count_above", lambda S, cut, single=False: 2)  # bounds of 2, no more
    S = FAMILY["Wishart"]
    lam = _complete_spectrum(S).eigenvalues
    auto, complete = _maps(S, _cuts(lam)["below all"], 3)
    assert auto.spectrum.is_complete and small_routes == ["reduced_above"]
    np.testing.assert_allclose(auto.spectrum.eigenvalues, lam, rtol=0, atol=1e-12 * lam[0])
    _assert_same_map(auto, complete)
    small_routes.clear()
    auto, complete = _maps(S, _cuts(lam)["median"], 3)
    assert auto.spectrum.eigenvalues.size == D // 2 and small_routes == ["reduced_above"]
    np.testing.assert_allclose(
        auto.spectrum.eigenvalues, lam[: D // 2], rtol=0, atol=1e-12 * lam[0]
    )
    _assert_same_map(auto, complete)


PROBE_D = 400  # the size of the spectra the probes are tried on


def _probe_spectrum(name: str, spikes: int) -> np.ndarray:
    d, rng = PROBE_D, np.random.default_rng(11)
    lam = {
        "twelve decades": lambda: np.logspace(12.0, 0.0, d),
        "power law 1/i^2": lambda: 1.0 / np.arange(1.0, d + 1) ** 2,
        "spikes over ones": lambda: np.r_[np.geomspace(50.0, 5.0, spikes), np.ones(d - spikes)],
        "Wishart edge": lambda: (
            np.linalg.svd(rng.standard_normal((d, d)), compute_uv=False) ** 2 / d
        ),
        "spikes over a spread bulk": lambda: np.r_[
            np.geomspace(50.0, 5.0, spikes), rng.uniform(0.5, 1.5, d - spikes)
        ],
        "the edge of a uniform bulk": lambda: rng.uniform(0.5, 1.5, d),
    }[name]()
    return np.sort(lam)[::-1]


@pytest.mark.parametrize(
    "name, spikes, k, arpack",
    [
        ("twelve decades", 0, 6, True),
        ("spikes over ones", 6, 6, True),
        ("spikes over a spread bulk", 6, 6, True),
        ("the edge of a uniform bulk", 0, 6, False),
        ("twelve decades", 0, 24, True),
        ("power law 1/i^2", 0, 24, True),
        ("spikes over ones", 30, 24, True),
        ("Wishart edge", 0, 24, False),
        ("spikes over a spread bulk", 10, 24, False),
    ],
)
def test_arpack_runs_where_the_probes_expect_few_products_else_the_reduction(
    name, spikes, k, arpack, small_routes, counted, monkeypatch
):
    """Up to PARTIAL_TOP eigenvalues above the cut (6 here), the full count and ARPACK run where
    the probe on every other row and column allows that few (spikes over a bulk, graded
    spectra); beyond, up to GRADED_TOP (24 here), where the spectrum looks graded at the cut
    (`GradedProbe`). Elsewhere (the edge of a bulk, where the probes count several times as
    many) the reduction answers, without the full count below PARTIAL_TOP. The same map either
    way (d = 400)."""
    monkeypatch.setattr(st, "PARTIAL_TOP", 10)
    monkeypatch.setattr(st, "GRADED_TOP", 50)
    lam = _probe_spectrum(name, spikes)
    auto, complete = _maps(_rotated(lam, 12), float(0.5 * (lam[k - 1] + lam[k])), 3)
    assert auto.spectrum.eigenvalues.size == k
    assert small_routes == (["lanczos_above"] if arpack else ["reduced_above"])
    if arpack:
        assert counted[-1] == PROBE_D  # the full count, for ARPACK's k
    elif k <= 10:
        assert PROBE_D not in counted
    _assert_same_map(auto, complete)


def test_the_graded_probe_rules_out_a_range_only_when_it_rules_out_each_count():
    """`looks_graded(bound, most)` (before the full count) is never False where
    `looks_graded(count)` would be True for some count from bound to most."""
    from ppca_stability._spectra.lanczos import GradedProbe

    rng = np.random.default_rng(5)
    for _ in range(2000):
        probe = GradedProbe(np.zeros((1, 1)), 1.0)
        probe._counts = {4: int(rng.integers(0, 120)), 2: int(rng.integers(0, 120))}
        bound = int(rng.integers(0, 60))
        most = bound + int(rng.integers(0, 60))
        if any(probe.looks_graded(c) for c in range(bound, most + 1)):
            assert probe.looks_graded(bound, most)


def test_below_the_subset_size_only_few_pairs_take_the_partial_route(small_routes, monkeypatch):
    """Below SUBSET_MIN_FEATURES a subset costs relatively more: a subset alone (by Krylov or
    inverse iteration) needs at most SMALL_SUBSET_MAX eigenvalues held as well as d / 8; with
    more, a partial spectrum comes only from every pair of one reduction's T, those held
    mapped back."""
    monkeypatch.setattr(st, "SUBSET_MIN_FEATURES", 10**6)
    monkeypatch.setattr(st, "SMALL_SUBSET_MAX", 2)
    S = FAMILY["spiked, spread bulk"]
    lam = _complete_spectrum(S).eigenvalues
    floor = eigen_floor(lam)
    seen: set[bool] = set()
    for cut, s in _cuts(lam).items():
        held = int(np.count_nonzero(tie_sign(lam, s, DEFAULT_RTOL, floor) >= 0))
        small_routes.clear()
        auto, complete = _maps(S, s, 3)
        partial = not auto.spectrum.is_complete
        assert partial or held > 2, (cut, held)
        if partial:
            assert auto.spectrum.eigenvalues.size == held
            assert held <= 2 or small_routes == ["reduced_above"], (cut, held)
        seen.add(held <= 2)
        _assert_same_map(auto, complete)
    assert seen == {True, False}  # both sides of the rule ran


def test_partial_route_needs_the_size_it_is_worth():
    """Below PARTIAL_MIN_FEATURES the count is not worth its cost: one eigh."""
    S = FAMILY["spiked, spread bulk"]
    assert stability_map(S, 30.0, latent_dim=1).spectrum.is_complete


@pytest.mark.slow
def test_issue_spectra_at_full_size_answer_through_the_route(monkeypatch):
    """A twelve-decade spectrum with two eigenvalues above sigma2 (d = 512), and a spiked
    identity whose repeated bulk lies above sigma2 (d = 600): the map of the complete route
    (the partial route's size rule set to 512 features, where these were found)."""
    monkeypatch.setattr(st, "PARTIAL_MIN_FEATURES", 512)
    lam = np.r_[1e12, 1e6, 1e3, np.linspace(1.5, 0.5, 509)]
    S = _rotated(lam, 0)
    # The bulk (0.5 - 1.5) lies above the round-off rule's d eps lam_max = 0.11 next to 1e12, so
    # the complete route keeps it (no PrecisionWarning: warnings are errors here); both routes
    # agree on every count and point, and the partial route's log-likelihood is the exact
    # spectrum's.
    auto, complete = _maps(S, 5e5, 1)
    assert auto.n_above == 2 and not auto.spectrum.is_complete
    assert (auto.n_points, auto.census()) == (complete.n_points, complete.census())
    assert auto.global_maximum.active == complete.global_maximum.active == (0,)
    exact = stability_map(Spectrum(lam, np.eye(lam.size)), 5e5, latent_dim=1)
    assert auto.global_maximum.log_likelihood == pytest.approx(
        exact.global_maximum.log_likelihood, rel=LOGLIK_RTOL
    )
    spiked = np.diag(np.r_[[6.0, 4.0, 3.0, 2.0, 1.6], np.ones(595)])
    auto, complete = _maps(spiked, 0.5, 5)
    assert auto.n_above == 600 and auto.spectrum.is_complete
    _assert_same_map(auto, complete)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Wishart", "four repeated values", "twelve decades"])
def test_many_above_the_cut_at_full_size_come_from_every_pair_of_t(name):
    """From SUBSET_MIN_FEATURES on, a cut with more than d / 8 eigenvalues above it (and below
    some eigenvalue of the interlacing submatrix) is answered by the reduction: every pair of its
    T, only those above the cut mapped back. The map and the pairs are the complete route's:
    eigenvalues to round-off, eigenvectors through their projector (a repeated value is wholly
    inside the subset), residuals and orthonormality directly."""
    d = st.SUBSET_MIN_FEATURES + 76
    rng = np.random.default_rng(11)
    if name == "Wishart":
        A = rng.standard_normal((d, d))
        S = (A @ A.T / d + (A @ A.T / d).T) / 2
    elif name == "four repeated values":
        S = _rotated(np.sort(rng.choice([4.0, 2.0, 1.0, 0.5], d))[::-1], 12)
    else:
        S = _rotated(np.logspace(12.0, 0.0, d), 13)
    full = _complete_spectrum(S)
    lam = full.eigenvalues
    cuts = [float(np.median(lam)), float(0.5 * (lam[d // 3 - 1] + lam[d // 3]))]
    if name == "four repeated values":
        cuts.append(2.0)  # at a value: the repeated 2.0 held (tied)
    mapped_back = 0
    for s in cuts:
        auto, complete = _maps(S, s, 5)
        _assert_same_map(auto, complete)
        spec = auto.spectrum
        r = spec.eigenvalues.size
        if spec.is_complete:
            continue
        mapped_back += r > d // 8
        np.testing.assert_allclose(spec.eigenvalues, lam[:r], rtol=0, atol=1e-12 * lam[0])
        U = spec.eigenvectors
        np.testing.assert_allclose(U.T @ U, np.eye(r), rtol=0, atol=1e-10)
        assert np.abs(S @ U - U * spec.eigenvalues).max() <= 1e-11 * lam[0]
        V = full.eigenvectors[:, :r]
        assert np.abs(U @ U.T - V @ V.T).max() < 1e-8
    # Twelve decades: the quarter submatrix lies wholly above the median, the half does not.
    assert mapped_back >= 2
