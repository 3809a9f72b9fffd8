"""ItemKNN and fuse wrappers: known answers, oracle agreement, evidence, save/load, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convrec import _native
from convrec.cf import SIMILARITIES, ItemKNN, ItemLayout, cuda_available, fuse, oracle, score_topk
from convrec.cf._checks import as_csr


def random_ratings(seed: int, n_users: int, n_items: int, density: float) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    return sp.csr_matrix(np.where(mask, rng.integers(1, 6, (n_users, n_items)), 0))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    similarity=st.sampled_from(SIMILARITIES),
    k=st.integers(1, 15),
    exclude_seen=st.booleans(),
)
def test_recommend_matches_oracle(seed: int, similarity: str, k: int, exclude_seen: bool) -> None:
    ui = random_ratings(seed, 40, 30, 0.15)
    model = ItemKNN(n_neighbours=6, similarity=similarity, shrink=1.0).fit(ui, num_threads=2)
    want_nbr = oracle.item_similarity(as_csr(ui, "ui"), 6, similarity, shrink=1.0)
    np.testing.assert_array_equal(model.similarity_.indices, want_nbr.indices)
    batch = ui[:12]
    ids, scores, ev, ev_w = model.recommend(
        batch,
        k=k,
        exclude_seen=exclude_seen,
        num_threads=2,
        backend="cpu",
        return_evidence=True,
        n_evidence=2,
    )
    r_ids, r_scores, r_ev, r_ev_w = oracle.score_topk(
        as_csr(batch, "b"), model.similarity_, k, exclude_seen, 2
    )
    np.testing.assert_array_equal(ids, r_ids)
    np.testing.assert_array_equal(scores, r_scores)
    np.testing.assert_array_equal(ev, r_ev)
    np.testing.assert_array_equal(ev_w, r_ev_w)


def test_item_layout_orders_by_popularity_and_leaves_results_unchanged() -> None:
    ui = random_ratings(4, 60, 40, 0.15)
    model = ItemKNN(n_neighbours=8).fit(ui)
    popularity = np.bincount(model.user_items_.indices, minlength=40)
    layout = ItemLayout.by_popularity(model.similarity_, popularity)
    assert sorted(layout.order) == list(range(40))
    assert np.all(np.diff(popularity[layout.order]) <= 0)  # falling popularity
    ties = popularity[layout.order][1:] == popularity[layout.order][:-1]
    assert np.all(np.diff(layout.order)[ties] > 0)  # equal popularity keeps id order
    for p in (0, 7, 39):  # position p is item order[p], in rows and columns
        np.testing.assert_array_equal(
            layout.neighbours[p].toarray()[0],
            model.similarity_[layout.order[p]].toarray()[0][layout.order],
        )
    plain = score_topk(ui[:10], model.similarity_, 6, exclude_seen=True, n_evidence=2)
    moved = score_topk(
        ui[:10], model.similarity_, 6, exclude_seen=True, n_evidence=2, layout=layout
    )
    for a, b in zip(plain, moved, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="layout is for a"):
        score_topk(ui[:2, :30], model.similarity_[:30, :30], 3, layout=layout)


def big_catalogue(seed: int) -> sp.csr_matrix:
    """300 users x (BITMAP_MAX_ITEMS + 500) items, skewed popularity: the list scan and the
    popularity layout apply."""
    rng = np.random.default_rng(seed)
    n_items = _native.BITMAP_MAX_ITEMS + 500
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    pop = pop[rng.permutation(n_items)] / pop.sum()
    rows = [np.unique(rng.choice(n_items, 40, p=pop)) for _ in range(300)]
    users = np.repeat(np.arange(300), [len(r) for r in rows])
    values = rng.integers(1, 6, users.size).astype(np.float32)
    return as_csr(sp.csr_matrix((values, (users, np.concatenate(rows))), (300, n_items)), "big")


def test_item_knn_on_a_large_catalogue_scores_in_its_layout_and_matches_oracle() -> None:
    ui = big_catalogue(6)
    model = ItemKNN(n_neighbours=10).fit(ui)
    assert model._scoring_layout() is not None
    batch = ui[:6]
    ids, scores, ev, ev_w = model.recommend(batch, k=8, return_evidence=True, n_evidence=2)
    want = oracle.score_topk(batch, model.similarity_, 8, True, 2)
    for got, ref in zip((ids, scores, ev, ev_w), want, strict=True):
        np.testing.assert_array_equal(got, ref)
    # a replaced similarity gets a new layout
    model.similarity_ = ItemKNN(n_neighbours=3).fit(ui).similarity_
    ids, scores = model.recommend(batch, k=8)
    want = oracle.score_topk(batch, model.similarity_, 8, True)
    np.testing.assert_array_equal(ids, want[0])
    np.testing.assert_array_equal(scores, want[1])
    small = ItemKNN(n_neighbours=5).fit(random_ratings(6, 40, 25, 0.2))
    assert small._scoring_layout() is not None  # every catalogue is scored in its layout
    small_batch = random_ratings(7, 5, 25, 0.3)
    ids, scores = small.recommend(small_batch, k=4)
    want = oracle.score_topk(small_batch, small.similarity_, 4, True)
    np.testing.assert_array_equal(ids, want[0])
    np.testing.assert_array_equal(scores, want[1])


def test_evidence_sums_to_score_when_e_covers_the_history() -> None:
    ui = random_ratings(5, 30, 20, 0.2)
    model = ItemKNN(n_neighbours=8).fit(ui)
    ids, scores, ev, ev_w = model.recommend(ui[:5], k=4, return_evidence=True, n_evidence=20)
    assert ev.shape == (5, 4, 20) and ev.dtype == np.int32 and ev_w.dtype == np.float32
    valid = ids >= 0
    np.testing.assert_allclose(ev_w.sum(axis=2)[valid], scores[valid], rtol=1e-5)
    for b in range(5):
        seen = set(ui[b].indices)
        assert set(ev[b][ev[b] >= 0]) <= seen


def test_score_items_agrees_with_recommend() -> None:
    ui = random_ratings(2, 30, 25, 0.2)
    model = ItemKNN(n_neighbours=10).fit(ui)
    dense = model.score_items(ui[:6])
    assert dense.shape == (6, 25) and dense.dtype == np.float32
    ids, scores = model.recommend(ui[:6], k=5, exclude_seen=False)
    for b in range(6):
        keep = ids[b] >= 0
        np.testing.assert_allclose(dense[b, ids[b, keep]], scores[b, keep], rtol=1e-5)


def test_empty_history_rows_are_padded() -> None:
    model = ItemKNN(n_neighbours=3).fit(random_ratings(0, 20, 10, 0.3))
    ids, scores = model.recommend(sp.csr_matrix((2, 10)), k=3)
    assert ids.shape == (2, 3) and (ids == -1).all() and np.isneginf(scores).all()


def test_save_load_round_trip(tmp_path) -> None:
    ui = random_ratings(9, 30, 20, 0.2)
    model = ItemKNN(n_neighbours=4, similarity="bm25", shrink=2.0, bm25_k1=1.5, bm25_b=0.5)
    model.fit(ui)
    path = tmp_path / "knn.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as z:  # no object arrays inside
        assert {"__meta__", "sim_indptr", "sim_indices", "sim_data", "ui_data"} <= set(z.files)
    loaded = ItemKNN.load(path)
    assert loaded.config == model.config
    assert (loaded.similarity_ != model.similarity_).nnz == 0
    for got, want in zip(loaded.recommend(ui, k=5), model.recommend(ui, k=5), strict=True):
        np.testing.assert_array_equal(got, want)
    users = np.arange(ui.shape[0])
    np.testing.assert_array_equal(loaded.score_items(users), model.score_items(users))


def test_recommend_rejects_bad_inputs() -> None:
    ui = random_ratings(4, 20, 10, 0.3)
    with pytest.raises(RuntimeError, match="not fitted"):
        ItemKNN().recommend(ui)
    model = ItemKNN(n_neighbours=3).fit(ui)
    with pytest.raises(ValueError, match="10 columns"):
        model.recommend(sp.csr_matrix((2, 9)))
    nan_batch = ui[:2].astype(np.float64)
    nan_batch.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.recommend(nan_batch)
    with pytest.raises(ValueError, match="k must be > 0"):
        model.recommend(ui, k=0)
    with pytest.raises(ValueError, match="k must be an integer"):
        model.recommend(ui, k=2.5)
    with pytest.raises(TypeError, match=r"scipy\.sparse"):
        model.recommend(ui.toarray())
    with pytest.raises(ValueError, match="backend must be"):
        model.recommend(ui, backend="gpu")
    if not cuda_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            model.recommend(ui, backend="cuda")
    with pytest.raises(ValueError, match="similarity must be one of"):
        ItemKNN(similarity="jaccard")
    with pytest.raises(ValueError, match="shrink"):
        ItemKNN(shrink=-1.0)
    with pytest.raises(ValueError, match="n_neighbours must be > 0"):
        ItemKNN(n_neighbours=0)
    with pytest.raises(ValueError, match="no rows"):
        model.recommend(sp.csr_matrix((0, 10)))
    with pytest.raises(ValueError, match="no interactions"):
        ItemKNN().fit(sp.csr_matrix((5, 10)))
    with pytest.raises(ValueError, match="real numbers"):
        ItemKNN().fit(ui.astype(bool))
    with pytest.raises(ValueError, match=r"users must be indices in \[0, 20\)"):
        model.score_items(np.array([3, 20]))
    with pytest.raises(ValueError, match="1-D integer"):
        model.score_items(np.array([0.5]))


def test_fuse_wrapper_validates_and_blends() -> None:
    cand = np.array([[4, 2, 9], [1, -1, 0]])
    cf = np.array([[3.0, 1.0, 2.0], [0.5, 0.0, 0.1]])
    llm = np.array([[0.0, 1.0, np.nan], [0.2, 0.0, 0.9]])
    ids, scores = fuse(cand, np.stack([cf, llm]), [0.7, 0.3], k=2, normalisation="minmax")
    r_ids, r_scores = oracle.fuse_topk(
        cand.astype(np.int32),
        np.stack([cf, llm]).astype(np.float32),
        np.array([0.7, 0.3], np.float32),
        2,
        "weighted",
        "minmax",
    )
    np.testing.assert_array_equal(ids, r_ids)
    np.testing.assert_allclose(scores, r_scores, rtol=1e-6)
    with pytest.raises(ValueError, match="unique"):
        fuse(np.array([[1, 1]]), np.zeros((1, 1, 2)))
    with pytest.raises(ValueError, match="sources must have shape"):
        fuse(cand, np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="weights must be finite"):
        fuse(cand, np.stack([cf, llm]), [1.0, -1.0])
    with pytest.raises(ValueError, match="method must be"):
        fuse(cand, cf, method="borda")
    with pytest.raises(ValueError, match="k must be > 0"):
        fuse(cand, cf, k=0)


def test_known_users_and_the_dataset_fit_match_the_matrix_path() -> None:
    from convrec.data import build_dataset

    ui = sp.csr_matrix(random_ratings(6, 25, 15, 0.25) > 0, dtype=np.float32)
    coo = ui.tocoo()
    data = build_dataset(
        "tiny",
        source="memory",
        user_ids=coo.row,
        item_ids=coo.col,
        rating=np.full(coo.nnz, 3.0),
        timestamp=np.arange(coo.nnz, dtype=np.int64),
        lines=np.arange(1, coo.nnz + 1),
    )
    from_data = ItemKNN(n_neighbours=5).fit(data, np.arange(data.n_interactions))
    from_matrix = ItemKNN(n_neighbours=5).fit(data.user_items(values="ones"))
    assert (from_data.similarity_ != from_matrix.similarity_).nnz == 0
    users = np.arange(data.n_users)
    for got, want in zip(
        from_data.recommend(users, k=4),
        from_matrix.recommend(data.user_items(values="ones"), k=4),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="rows are missing"):
        ItemKNN().fit(data)


def test_recommend_reads_a_canonical_batch_in_place_and_leaves_others_untouched() -> None:
    ui = as_csr(random_ratings(8, 30, 20, 0.2), "ui")
    model = ItemKNN(n_neighbours=5).fit(ui)
    assert as_csr(ui, "ui", copy=False) is ui  # canonical: no copy of a large batch
    messy = sp.csr_matrix(
        (np.array([2.0, 1.0, 3.0]), np.array([4, 1, 4]), np.array([0, 3])), shape=(1, 20)
    )  # float64, unsorted, a duplicate
    before = (messy.data.copy(), messy.indices.copy())
    got = model.recommend(messy, k=3)
    np.testing.assert_array_equal(messy.data, before[0])  # the caller's matrix is not touched
    np.testing.assert_array_equal(messy.indices, before[1])
    want = model.recommend(as_csr(messy, "m"), k=3)
    np.testing.assert_array_equal(got[0], want[0])
    with pytest.raises(ValueError, match="NaN"):
        model.recommend(sp.csr_matrix(np.array([[np.nan] + [0.0] * 19], np.float32)), k=3)
