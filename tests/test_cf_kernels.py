"""Native CF kernels against their numpy oracles: similarity, scoring + top-k, fusion, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convrec import _native
from convrec.cf import oracle
from convrec.cf._checks import as_csr
from convrec.cf.knn import keep_top_k

MEASURES = ["cosine", "adjusted_cosine", "pearson", "bm25"]
SETTINGS = settings(max_examples=40, deadline=None)
SCANS = ["bitmap", "list"]  # how the CPU scorer finds reached items: results must not differ


def random_ratings(seed: int, n_users: int, n_items: int, density: float) -> sp.csr_matrix:
    """Integer ratings 1..5 (exact in float32 and float64, so sums agree bit for bit)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    values = rng.integers(1, 6, size=(n_users, n_items)).astype(np.float32)
    return as_csr(sp.csr_matrix(np.where(mask, values, 0.0)), "ratings")


def checkerboard(n_users: int = 8, n_items: int = 6) -> sp.csr_matrix:
    """User u likes the items of its parity (u % 2); user 0's item 4 is withheld."""
    dense = np.array([[float(i % 2 == u % 2) for i in range(n_items)] for u in range(n_users)])
    dense[0, 4] = 0.0
    return as_csr(sp.csr_matrix(dense), "checkerboard")


def native_similarity(ui: sp.csr_matrix, k: int, measure: str, shrink: float = 0.0):
    indptr, indices, data = _native.item_similarity(
        ui.indptr, ui.indices, ui.data, ui.shape[1], k, measure, shrink, 1.2, 0.75, 2
    )
    return sp.csr_matrix((data, indices, indptr), shape=(ui.shape[1], ui.shape[1]))


def native_score(
    hist: sp.csr_matrix,
    nbr: sp.csr_matrix,
    k: int,
    exclude: bool = True,
    n_evidence: int = 0,
    use_cuda: bool = False,
    scan: str = "auto",
):
    return _native.score_topk(
        hist.indptr,
        hist.indices,
        hist.data,
        nbr.indptr,
        nbr.indices,
        nbr.data,
        k,
        exclude,
        n_evidence,
        2,
        use_cuda,
        None,
        scan,
    )


def assert_csr_equal(got: sp.csr_matrix, want: sp.csr_matrix) -> None:
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-5, atol=1e-6)


# --- similarity ---------------------------------------------------------------------------


def test_similarity_checkerboard_links_only_same_parity() -> None:
    nbr = native_similarity(checkerboard(), 10, "cosine")
    for i in range(6):
        row = nbr.indices[nbr.indptr[i] : nbr.indptr[i + 1]]
        assert set(row) == {j for j in range(6) if j % 2 == i % 2 and j != i}
    # Item 4 lost one user: cos(0, 2) = 1 while cos(0, 4) = 3 / sqrt(4 * 3).
    assert nbr[0, 2] == pytest.approx(1.0)
    assert nbr[0, 4] == pytest.approx(3 / np.sqrt(12))


@pytest.mark.parametrize("measure", MEASURES)
def test_similarity_top_k_keeps_the_best_and_breaks_ties_low(measure: str) -> None:
    ui = random_ratings(3, 40, 25, 0.3)
    full = native_similarity(ui, 100, measure)
    top = native_similarity(ui, 3, measure)
    for i in range(25):
        sims = full[i].toarray().ravel()
        order = np.lexsort((np.arange(25), -sims))
        want = sorted(j for j in order[:3] if sims[j] > 0)
        assert list(top.indices[top.indptr[i] : top.indptr[i + 1]]) == want


SIMILARITY_CASES = given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 30),
    n_items=st.integers(1, 25),
    density=st.floats(0.0, 0.6),
    k=st.integers(1, 8),
    measure=st.sampled_from(MEASURES),
    shrink=st.sampled_from([0.0, 2.5]),
)
"""Small random rating matrices and similarity settings, for the oracle comparisons."""


@SETTINGS
@SIMILARITY_CASES
def test_similarity_matches_oracle(seed, n_users, n_items, density, k, measure, shrink) -> None:
    ui = random_ratings(seed, n_users, n_items, density)
    got = native_similarity(ui, k, measure, shrink)
    want = oracle.item_similarity(ui, k, measure, shrink)
    assert_csr_equal(got, want)


@SETTINGS
@SIMILARITY_CASES
def test_similarity_of_binary_data_matches_oracle(
    seed, n_users, n_items, density, k, measure, shrink
) -> None:
    ui = random_ratings(seed, n_users, n_items, density)
    ui.data[:] = 1.0  # all ones: cosine sums co-occurrence counts
    got = native_similarity(ui, k, measure, shrink)
    assert_csr_equal(got, oracle.item_similarity(ui, k, measure, shrink))


def binary_cosine_top_k(ui: sp.csr_matrix, k: int, shrink: float) -> sp.csr_matrix:
    """Exact top-k cosine of 0/1 data: co-occurrence counts / (norm_i * norm_j), shrunk by
    n / (n + shrink), rounded to float32, in the kernel's own double operations."""
    counts = (ui.T.astype(np.float64) @ ui.astype(np.float64)).tocoo()  # integers: exact
    norm = np.sqrt(np.bincount(ui.indices, minlength=ui.shape[1]).astype(np.float64))
    off = counts.row != counts.col
    row, col, n = counts.row[off], counts.col[off], counts.data[off]
    sim = n / (norm[row] * norm[col])
    if shrink > 0:
        sim = sim * (n / (n + shrink))
    full = sp.csr_matrix((sim.astype(np.float32), (row, col)), shape=counts.shape)
    return keep_top_k(full, k)


@pytest.mark.parametrize("shrink", [0.0, 4.0])
def test_similarity_of_a_wide_catalogue_is_exact_and_thread_independent(shrink: float) -> None:
    # 3,000 items, Zipf-like popularity: pairs in the kernel's dense head (its 2,048 most popular
    # items), in its tail, and across the two, with many tied counts to break to the lower id.
    rng = np.random.default_rng(7)
    n_users, n_items = 300, 3_000
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity = popularity[rng.permutation(n_items)] / popularity.sum()
    items = rng.choice(n_items, size=(n_users, 60), p=popularity)
    users = np.repeat(np.arange(n_users), 60)
    ones = np.ones(users.size)
    ui = as_csr(sp.csr_matrix((ones, (users, items.ravel())), shape=(n_users, n_items)), "ui")
    ui.data[:] = 1.0  # duplicates were summed
    want = binary_cosine_top_k(ui, 20, shrink)
    for threads in (1, 2):
        indptr, indices, data = _native.item_similarity(
            ui.indptr, ui.indices, ui.data, n_items, 20, "cosine", shrink, 1.2, 0.75, threads
        )
        np.testing.assert_array_equal(indptr, want.indptr)
        np.testing.assert_array_equal(indices, want.indices)
        np.testing.assert_array_equal(data, want.data)


# --- scoring + top-k ----------------------------------------------------------------------


def test_score_checkerboard_withheld_item_ranks_first() -> None:
    ui = checkerboard()
    nbr = native_similarity(ui, 10, "cosine")
    ids, scores, _, _ = native_score(ui[:1], nbr, 3)
    assert ids[0].tolist() == [4, -1, -1]  # odd items are never reached; seen ones excluded
    assert scores[0, 0] > 0 and np.isneginf(scores[0, 1:]).all()


def test_score_empty_history_gives_padded_rows() -> None:
    nbr = native_similarity(random_ratings(0, 20, 10, 0.4), 5, "cosine")
    hist = as_csr(sp.csr_matrix((3, 10), dtype=np.float32), "empty")
    ids, scores, ev, ev_w = native_score(hist, nbr, 4, n_evidence=2)
    assert (ids == -1).all() and np.isneginf(scores).all()
    assert (ev == -1).all() and (ev_w == 0).all()


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 30),
    k=st.integers(1, 12),
    n_neighbours=st.integers(1, 10),
    exclude=st.booleans(),
    n_evidence=st.integers(0, 4),
    scan=st.sampled_from(SCANS),
)
def test_score_topk_matches_oracle(
    seed, n_users, n_items, k, n_neighbours, exclude, n_evidence, scan
) -> None:
    rng = np.random.default_rng(seed)
    nbr = native_similarity(random_ratings(seed, 40, n_items, 0.25), n_neighbours, "cosine")
    mask = rng.random((n_users, n_items)) < 0.2
    hist = as_csr(sp.csr_matrix(np.where(mask, rng.random((n_users, n_items)), 0.0)), "hist")
    ids, scores, ev, ev_w = native_score(hist, nbr, k, exclude, n_evidence, scan=scan)
    r_ids, r_scores, r_ev, r_ev_w = oracle.score_topk(hist, nbr, k, exclude, n_evidence)
    np.testing.assert_array_equal(ids, r_ids)
    np.testing.assert_array_equal(scores, r_scores)  # same float32 order of summation
    if n_evidence:
        np.testing.assert_array_equal(ev, r_ev)
        np.testing.assert_array_equal(ev_w, r_ev_w)
    else:
        assert ev is None and ev_w is None


@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(0, 8),
    n_items=st.integers(1, 25),
    n_cols=st.integers(0, 30),
)
@SETTINGS
def test_score_dense_matches_oracle(seed, n_users, n_items, n_cols) -> None:
    rng = np.random.default_rng(seed)
    nbr = as_csr(sp.random(n_items, n_cols, 0.3, "csr", rng=rng, dtype=np.float32), "nbr")
    hist = as_csr(sp.random(n_users, n_items, 0.3, "csr", rng=rng, dtype=np.float32), "hist")
    got = _native.score_dense(
        hist.indptr, hist.indices, hist.data, nbr.indptr, nbr.indices, nbr.data, n_cols, 2
    )
    np.testing.assert_array_equal(got, oracle.score_dense(hist, nbr))  # same float32 sums


@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(0, 6),
    n_items=st.integers(1, 30),
    k=st.integers(0, 12),
    dtype=st.sampled_from([np.float32, np.float64]),
    threads=st.integers(1, 2),
)
@SETTINGS
def test_rank_topk_matches_oracle(seed, n_users, n_items, k, dtype, threads) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(-2, 3, (n_users, n_items)).astype(dtype)  # many ties
    for value, share in ((np.nan, 0.1), (-np.inf, 0.1), (np.inf, 0.05), (-0.0, 0.1)):
        scores[rng.random(scores.shape) < share] = value
    exclude = as_csr(sp.random(n_users, n_items, 0.3, "csr", rng=rng, dtype=np.float32), "ex")
    target = rng.integers(0, n_items, n_users).astype(np.int64)
    rank, top = _native.rank_topk(scores, exclude.indptr, exclude.indices, target, k, threads)
    want_rank, want_top = oracle.rank_topk(scores, exclude, k, target)
    np.testing.assert_array_equal(rank, want_rank)
    np.testing.assert_array_equal(top, want_top)
    none, top_only = _native.rank_topk(scores, exclude.indptr, exclude.indices, None, k, threads)
    assert none is None
    np.testing.assert_array_equal(top_only, want_top)


def test_rank_topk_rejects_bad_inputs() -> None:
    scores = np.zeros((2, 3), np.float32)
    ptr, idx = np.array([0, 1, 1], np.int32), np.array([2], np.int32)
    with pytest.raises(ValueError, match="exclude_indices out of range"):
        _native.rank_topk(scores, ptr, np.array([3], np.int32), None, 2)
    with pytest.raises(ValueError, match="one row per score row"):
        _native.rank_topk(scores, np.array([0, 1], np.int32), idx, None, 2)
    with pytest.raises(ValueError, match="target 5 of row 1 out of range"):
        _native.rank_topk(scores, ptr, idx, np.array([0, 5], np.int64), 2)
    with pytest.raises(ValueError, match="float32 or float64"):
        _native.rank_topk(scores.astype(np.int32), ptr, idx, None, 2)


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("exclude", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_score_topk_matches_oracle_on_many_items_and_skewed_rows(exclude, threads, scan) -> None:
    # Many items, rows of very different lengths (the scratch is reused across rows of one
    # thread), zero and negative weights (reached items with a score <= 0 are still
    # candidates: the stamped path) and a repeated history item in one row.
    rng = np.random.default_rng(7)
    n_items = 300
    nbr = native_similarity(random_ratings(3, 120, n_items, 0.08), 12, "cosine")
    rows, cols, vals = [], [], []
    for b, length in enumerate([0, 1, 2, 150, 3, 40, 0, 7, 90, 1]):
        items = np.sort(rng.choice(n_items, length, replace=False))
        rows += [b] * length
        cols += items.tolist()
        vals += rng.choice([-1.0, 0.0, 0.5, 2.0], length).tolist()
    indptr = np.searchsorted(np.asarray(rows, np.int64), np.arange(11)).astype(np.int32)
    hist = sp.csr_matrix(
        (np.asarray(vals, np.float32), np.asarray(cols, np.int32), indptr), shape=(10, n_items)
    )
    dup = sp.csr_matrix(
        (np.array([1.0, 1.0, 2.0], np.float32), np.array([5, 5, 9], np.int32), np.array([0, 3])),
        shape=(1, n_items),
    )
    for h in (hist, dup):
        got = _native.score_topk(
            h.indptr,
            h.indices,
            h.data,
            nbr.indptr,
            nbr.indices,
            nbr.data,
            25,
            exclude,
            0,
            threads,
            False,
            None,
            scan,
        )
        want = oracle.score_topk(h, nbr, 25, exclude)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_score_ties_break_to_lower_item() -> None:
    # Item 0 links to items 1..4 with equal similarity: ranking must be 1, 2, 3, 4.
    nbr = as_csr(sp.csr_matrix(np.vstack([[0, 1, 1, 1, 1], np.zeros((4, 5))])), "nbr")
    hist = as_csr(sp.csr_matrix([[1.0, 0, 0, 0, 0]]), "hist")
    ids, scores, _, _ = native_score(hist, nbr, 4)
    assert ids[0].tolist() == [1, 2, 3, 4]
    assert scores[0].tolist() == [1.0] * 4


def layout_of(nbr: sp.csr_matrix, order: np.ndarray) -> sp.csr_matrix:
    """``nbr`` renumbered: position p holds item order[p] (rows and columns)."""
    return as_csr(nbr[order][:, order], "layout")


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(1, 40),
    k=st.integers(1, 12),
    exclude=st.booleans(),
    n_evidence=st.integers(0, 3),
    signs=st.sampled_from(["positive", "mixed"]),
    threads=st.sampled_from([1, 2]),
    scan=st.sampled_from(SCANS),
)
def test_score_topk_in_a_layout_matches_oracle(
    seed, n_items, k, exclude, n_evidence, signs, threads, scan
) -> None:
    # Small integer similarities and weights: many ties, which must still break to the lower
    # item id (not the lower position), in the results and in the evidence.
    rng = np.random.default_rng(seed)
    sims = rng.integers(1, 4, (n_items, n_items)) * (rng.random((n_items, n_items)) < 0.3)
    nbr = as_csr(sp.csr_matrix(sims.astype(np.float32)), "nbr")
    low = 1 if signs == "positive" else -1
    weights = rng.integers(low, 3, (8, n_items)) * (rng.random((8, n_items)) < 0.4)
    hist = as_csr(sp.csr_matrix(weights.astype(np.float32)), "hist")
    order = rng.permutation(n_items).astype(np.int32)
    moved = layout_of(nbr, order)
    got = _native.score_topk(
        hist.indptr, hist.indices, hist.data, moved.indptr, moved.indices, moved.data,
        k, exclude, n_evidence, threads, False, order, scan,
    )  # fmt: skip
    want = oracle.score_topk(hist, nbr, k, exclude, n_evidence)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    if n_evidence:
        np.testing.assert_array_equal(got[2], want[2])
        np.testing.assert_array_equal(got[3], want[3])


@pytest.mark.parametrize("n_items", [255, 256, 257, 700])
@pytest.mark.parametrize("n_users", [2, 60])  # 2: fewer history entries than items; 60: more
def test_score_topk_past_the_dense_head_matches_oracle(n_items, n_users) -> None:
    # The list scan of positive rows sums the first 256 positions without a record and scans
    # them whole; past them it lists first touches. Rows here straddle that boundary, in the
    # identity layout and in a shuffled one, with ties and exclusions.
    rng = np.random.default_rng(n_items * 100 + n_users)
    sims = rng.integers(1, 4, (n_items, n_items)) * (rng.random((n_items, n_items)) < 0.05)
    nbr = as_csr(sp.csr_matrix(sims.astype(np.float32)), "nbr")
    weights = rng.integers(1, 3, (n_users, n_items)) * (rng.random((n_users, n_items)) < 0.1)
    hist = as_csr(sp.csr_matrix(weights.astype(np.float32)), "hist")
    want = oracle.score_topk(hist, nbr, 20, True, 2)
    order = rng.permutation(n_items).astype(np.int32)
    for matrix, item_order in ((nbr, None), (layout_of(nbr, order), order)):
        got = _native.score_topk(
            hist.indptr, hist.indices, hist.data, matrix.indptr, matrix.indices, matrix.data,
            20, True, 2, 1, False, item_order, "list",
        )  # fmt: skip
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_score_topk_many_stamped_rows_in_one_thread() -> None:
    # Rows with a negative weight take the stamped path; its 16-bit row counter wraps after
    # 65,535 rows of one thread and must forget every older stamp.
    nbr = as_csr(sp.csr_matrix(np.array([[0, 1, 2], [3, 0, 1], [1, 1, 0]], np.float32)), "nbr")
    patterns = sp.csr_matrix(np.array([[-1, 0, 0], [0, 2, 0], [0, -1, 1]], np.float32))
    pick = np.arange(70_000) % 3
    hist = as_csr(patterns[pick], "hist")
    want = oracle.score_topk(as_csr(patterns, "p"), nbr, 3, True)
    got = native_score(hist, nbr, 3, exclude=True, scan="list")
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got[0], want[0][pick])
        np.testing.assert_array_equal(got[1], want[1][pick])


@pytest.mark.parametrize("scan", SCANS)
def test_underflowing_contributions_still_reach_their_items(scan) -> None:
    # 1e-30 * 1e-20 underflows to 0 in float32: the reached items score 0 and are still
    # candidates, ahead of the padding (the list scan's positive shortcut must not apply).
    nbr = as_csr(sp.csr_matrix(np.array([[0, 1e-20, 1e-20], [0, 0, 0], [0, 0, 0]])), "nbr")
    hist = as_csr(sp.csr_matrix(np.array([[1e-30, 0, 0]])), "hist")
    ids, scores, _, _ = native_score(hist, nbr, 3, scan=scan)
    assert ids[0].tolist() == [1, 2, -1]
    assert scores[0, :2].tolist() == [0.0, 0.0] and np.isneginf(scores[0, 2])
    want = oracle.score_topk(hist, nbr, 3, True)
    np.testing.assert_array_equal(ids, want[0])


def test_score_topk_rejects_a_bad_layout() -> None:
    nbr = native_similarity(random_ratings(1, 10, 6, 0.5), 3, "cosine")
    hist = random_ratings(2, 3, 6, 0.5)
    args = (hist.indptr, hist.indices, hist.data, nbr.indptr, nbr.indices, nbr.data, 3)
    with pytest.raises(ValueError, match="item_order must have one entry per item"):
        _native.score_topk(*args, True, 0, 1, False, np.arange(5, dtype=np.int32))
    not_a_permutation = r"item_order must be a permutation .* \(position 1 holds 0\)"
    with pytest.raises(ValueError, match=not_a_permutation):
        _native.score_topk(*args, True, 0, 1, False, np.array([0, 0, 1, 2, 3, 4], np.int32))
    with pytest.raises(ValueError, match="item_order must have dtype int32"):
        _native.score_topk(*args, True, 0, 1, False, np.arange(6))
    with pytest.raises(ValueError, match="CUDA path takes none"):
        _native.score_topk(*args, True, 0, 1, True, np.arange(6, dtype=np.int32))
    with pytest.raises(ValueError, match="unknown scan 'dense'"):
        _native.score_topk(*args, True, 0, 1, False, None, "dense")


# --- fusion -------------------------------------------------------------------------------


def test_fuse_known_answer() -> None:
    cand = np.array([[10, 11, 12, -1]], np.int32)
    cf = [3.0, 2.0, 1.0, 0.0]
    llm = [1.0, 3.0, np.nan, 0.0]  # the LLM has no score for item 12
    src = np.array([[cf], [llm]], np.float32)
    w = np.array([1.0, 1.0], np.float32)
    ids, scores = _native.fuse_topk(cand, src, w, 4, "weighted", "minmax")
    # minmax: cf -> 1, .5, 0; llm -> 0, 1; blend: 10 -> .5, 11 -> .75, 12 -> 0 (cf only)
    assert ids[0].tolist() == [11, 10, 12, -1]
    np.testing.assert_allclose(scores[0, :3], [0.75, 0.5, 0.0])
    ids, scores = _native.fuse_topk(cand, src, w, 3, "rrf", "zscore", 1.0)
    # ranks cf: 10->1, 11->2, 12->3; llm: 11->1, 10->2
    np.testing.assert_allclose(scores[0], [1 / 2 + 1 / 3, 1 / 3 + 1 / 2, 1 / 4], rtol=1e-6)
    assert ids[0].tolist() == [10, 11, 12]  # equal scores: the lower id first


def test_fuse_constant_row_normalises_to_zero() -> None:
    cand = np.array([[5, 3, 4]], np.int32)
    src = np.full((1, 1, 3), 7.0, np.float32)
    ids, scores = _native.fuse_topk(cand, src, np.ones(1, np.float32), 3, "weighted", "zscore")
    assert ids[0].tolist() == [3, 4, 5] and scores[0].tolist() == [0.0, 0.0, 0.0]


def random_fusion_case(seed: int, n_users: int, n_cand: int, n_sources: int):
    rng = np.random.default_rng(seed)
    cand = np.stack([rng.permutation(3 * n_cand)[:n_cand] for _ in range(n_users)])
    cand[rng.random(cand.shape) < 0.15] = -1
    src = rng.integers(0, 6, size=(n_sources, n_users, n_cand)).astype(np.float32)  # many ties
    src[rng.random(src.shape) < 0.2] = np.nan
    w = rng.integers(0, 4, size=n_sources).astype(np.float32)
    return cand.astype(np.int32), src, w


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 6),
    n_cand=st.integers(1, 20),
    n_sources=st.integers(1, 3),
    k=st.integers(1, 25),
    method=st.sampled_from(["weighted", "rrf"]),
    normalisation=st.sampled_from(["zscore", "minmax", "none"]),
)
def test_fuse_matches_oracle(seed, n_users, n_cand, n_sources, k, method, normalisation) -> None:
    cand, src, w = random_fusion_case(seed, n_users, n_cand, n_sources)
    ids, scores = _native.fuse_topk(cand, src, w, k, method, normalisation, 10.0, 2)
    r_ids, r_scores = oracle.fuse_topk(cand, src, w, k, method, normalisation, 10.0)
    np.testing.assert_allclose(scores, r_scores, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ids, r_ids)


# --- bad inputs ---------------------------------------------------------------------------


def test_native_rejects_bad_inputs() -> None:
    ui = random_ratings(1, 10, 6, 0.5)
    nbr = native_similarity(ui, 3, "cosine")
    with pytest.raises(ValueError, match="histories_data must have dtype float32"):
        _native.score_topk(
            ui.indptr, ui.indices, ui.data.astype(np.float64), nbr.indptr, nbr.indices, nbr.data, 3
        )
    with pytest.raises(ValueError, match="C-contiguous"):
        _native.score_topk(
            ui.indptr, ui.indices, np.repeat(ui.data, 2)[::2], nbr.indptr, nbr.indices, nbr.data, 3
        )
    bad = ui.indices.copy()
    bad[0] = 6
    with pytest.raises(ValueError, match="out of range"):
        _native.score_topk(ui.indptr, bad, ui.data, nbr.indptr, nbr.indices, nbr.data, 3)
    with pytest.raises(ValueError, match="k must be > 0"):
        _native.score_topk(ui.indptr, ui.indices, ui.data, nbr.indptr, nbr.indices, nbr.data, 0)
    unsorted = nbr.indices.copy()
    row = next(i for i in range(6) if nbr.indptr[i + 1] - nbr.indptr[i] >= 2)
    unsorted[nbr.indptr[row] : nbr.indptr[row + 1]] = unsorted[
        nbr.indptr[row] : nbr.indptr[row + 1]
    ][::-1]
    with pytest.raises(ValueError, match="sorted and unique"):
        _native.score_topk(ui.indptr, ui.indices, ui.data, nbr.indptr, unsorted, nbr.data, 3)
    with pytest.raises(ValueError, match="unknown similarity"):
        _native.item_similarity(ui.indptr, ui.indices, ui.data, 6, 3, "jaccard")
    with pytest.raises(ValueError, match="end at len"):
        _native.item_similarity(ui.indptr[:-1], ui.indices, ui.data, 6, 3, "cosine")
    cand = np.zeros((2, 3), np.int32)
    with pytest.raises(ValueError, match="sources must have shape"):
        _native.fuse_topk(cand, np.zeros((1, 2, 4), np.float32), np.ones(1, np.float32), 2)
    with pytest.raises(ValueError, match="unknown fusion method"):
        _native.fuse_topk(cand, np.zeros((1, 2, 3), np.float32), np.ones(1, np.float32), 2, "borda")


# --- GPU parity ---------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_matches_cpu_exactly() -> None:
    if not _native.cuda_available():
        pytest.skip("no usable CUDA device")
    ui = random_ratings(7, 300, 400, 0.05)
    for measure in MEASURES:
        nbr = native_similarity(ui, 30, measure)
        cpu = native_score(ui, nbr, 20, True, 3, use_cuda=False)
        gpu = native_score(ui, nbr, 20, True, 3, use_cuda=True)
        for got, want in zip(gpu, cpu, strict=True):
            np.testing.assert_array_equal(got, want)
    for method in ("weighted", "rrf"):
        for norm in ("zscore", "minmax", "none"):
            cand, src, w = random_fusion_case(11, 64, 50, 3)
            cpu_f = _native.fuse_topk(cand, src, w, 10, method, norm, 60.0, 2, False)
            gpu_f = _native.fuse_topk(cand, src, w, 10, method, norm, 60.0, 1, True)
            for got, want in zip(gpu_f, cpu_f, strict=True):
                np.testing.assert_array_equal(got, want)


def test_thread_count_zero_means_openmp_default() -> None:
    from convrec.cf._checks import check_num_threads

    assert check_num_threads(0) == _native.max_threads() >= 1
    assert check_num_threads(3) == 3
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="num_threads"):
            check_num_threads(bad)
