"""UserKNN and the shared scoring kernel: numpy references, new histories, save/load, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from convrec.cf import SIMILARITIES, ItemKNN, UserKNN, oracle, score_dense, score_topk
from convrec.cf._checks import as_csr


def random_ratings(seed: int, n_users: int, n_items: int, density: float) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    return sp.csr_matrix(np.where(mask, rng.integers(1, 6, (n_users, n_items)), 0))


def reference_scores(neighbour_rows: sp.csr_matrix, user_items: sp.csr_matrix) -> np.ndarray:
    """float32 ``sum_v sim(u, v) * user_items[v]``, summed in neighbour order like the kernel."""
    ui = user_items.toarray().astype(np.float32)
    out = np.zeros((neighbour_rows.shape[0], ui.shape[1]), np.float32)
    for b in range(neighbour_rows.shape[0]):
        lo, hi = neighbour_rows.indptr[b], neighbour_rows.indptr[b + 1]
        for v, w in zip(neighbour_rows.indices[lo:hi], neighbour_rows.data[lo:hi], strict=True):
            out[b] += np.float32(w) * ui[v]
    return out


def reference_topk(scores: np.ndarray, reached: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Top k of the reached columns by (score desc, index asc), padded -1 / -inf."""
    ids = np.full((len(scores), k), -1, np.int32)
    top = np.full((len(scores), k), -np.inf, np.float32)
    for b in range(len(scores)):
        cand = np.flatnonzero(reached[b])
        order = cand[np.lexsort((cand, -scores[b, cand].astype(np.float64)))][:k]
        ids[b, : len(order)] = order
        top[b, : len(order)] = scores[b, order]
    return ids, top


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    similarity=st.sampled_from(SIMILARITIES),
    k=st.integers(1, 12),
    exclude_seen=st.booleans(),
)
def test_known_users_match_the_numpy_reference(seed, similarity, k, exclude_seen) -> None:
    ui = as_csr(random_ratings(seed, 30, 45, 0.15), "ui")
    model = UserKNN(n_neighbours=5, similarity=similarity, shrink=1.0).fit(ui, num_threads=2)
    # user-user neighbours are the item kernel on the transpose
    want = oracle.item_similarity(as_csr(ui.T, "iu"), 5, similarity, shrink=1.0)
    np.testing.assert_array_equal(model.similarity_.indices, want.indices)
    np.testing.assert_allclose(model.similarity_.data, want.data, rtol=1e-6)
    users = np.arange(0, 30, 3)
    expected = reference_scores(model.similarity_[users], ui)
    np.testing.assert_array_equal(model.score_items(users), expected)
    reached = reference_scores(model.similarity_[users], (ui > 0).astype(np.float32)) > 0
    if exclude_seen:
        reached &= ui[users].toarray() == 0
    ids, scores = model.recommend(users, k=k, exclude_seen=exclude_seen, num_threads=2)
    r_ids, r_scores = reference_topk(expected, reached, k)
    np.testing.assert_array_equal(ids, r_ids)
    np.testing.assert_array_equal(scores, r_scores)


def test_new_histories_use_training_neighbours_only() -> None:
    ui = as_csr(random_ratings(3, 25, 30, 0.2), "ui")
    model = UserKNN(n_neighbours=4).fit(ui)
    fresh = as_csr(random_ratings(4, 70, 30, 0.2), "fresh")  # more rows than one chunk
    nbrs = model.neighbours_of(fresh)
    assert nbrs.shape == (70, 25) and np.diff(nbrs.indptr).max() <= 4
    # cosine of the new rows against the training users, top 4 (ties to the lower user)
    x, t = fresh.toarray().astype(np.float64), ui.toarray().astype(np.float64)
    norms = np.linalg.norm(x, axis=1)[:, None] * np.linalg.norm(t, axis=1)[None, :]
    cos = np.divide(x @ t.T, norms, out=np.zeros((70, 25)), where=norms > 0)
    want = []
    for b in range(70):
        order = [v for v in np.lexsort((np.arange(25), -cos[b])) if cos[b, v] > 0][:4]
        want.append(sorted(order))
    got = [sorted(nbrs[b].indices.tolist()) for b in range(70)]
    assert got == want
    np.testing.assert_array_equal(model.score_items(fresh), reference_scores(nbrs, ui))
    # a history equal to a training user's finds that user first
    again = model.neighbours_of(ui[[7]])
    assert again.indices[np.argmax(again.data)] == 7


def test_save_load_round_trip(tmp_path) -> None:
    ui = random_ratings(9, 30, 20, 0.2)
    model = UserKNN(n_neighbours=6, similarity="bm25", shrink=2.0).fit(ui)
    path = tmp_path / "userknn.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert not any(z[name].dtype == object for name in z.files)
    loaded = UserKNN.load(path)
    assert loaded.config == model.config
    for got, want in zip(loaded.recommend(ui, k=5), model.recommend(ui, k=5), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="holds a UserKNN, not a ItemKNN"):
        ItemKNN.load(path)


def test_bad_inputs_are_clear_errors() -> None:
    ui = random_ratings(4, 20, 10, 0.3)
    with pytest.raises(RuntimeError, match="UserKNN is not fitted"):
        UserKNN().recommend(ui)
    model = UserKNN(n_neighbours=3).fit(ui)
    with pytest.raises(ValueError, match="10 columns"):
        model.recommend(sp.csr_matrix((2, 9)))
    nan_batch = ui[:2].astype(np.float64)
    nan_batch.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.recommend(nan_batch)
    with pytest.raises(ValueError, match="k must be > 0"):
        model.recommend(ui, k=0)
    with pytest.raises(ValueError, match="no rows"):
        model.recommend(sp.csr_matrix((0, 10)))
    with pytest.raises(ValueError, match=r"users must be indices in \[0, 20\)"):
        model.recommend(np.array([-1]))
    with pytest.raises(TypeError, match=r"scipy\.sparse"):
        model.fit(ui.toarray())
    with pytest.raises(ValueError, match="no interactions"):
        UserKNN().fit(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="similarity must be one of"):
        UserKNN(similarity="jaccard")
    ids, scores = model.recommend(sp.csr_matrix((2, 10)), k=3)  # empty histories: padded
    assert (ids == -1).all() and np.isneginf(scores).all()


def test_score_topk_on_a_rectangular_neighbour_matrix() -> None:
    rng = np.random.default_rng(0)
    hist = as_csr(sp.random(6, 4, density=0.5, random_state=1, dtype=np.float32), "h")
    nbr = as_csr(sp.csr_matrix(rng.random((4, 9)) * (rng.random((4, 9)) < 0.5)), "n")
    skip = sp.csr_matrix(rng.random((6, 9)) < 0.3)  # bool: only its pattern counts
    dense = reference_scores(hist, nbr)
    np.testing.assert_array_equal(score_dense(hist, nbr), dense)
    reached = reference_scores(hist, (nbr > 0).astype(np.float32)) > 0
    reached &= skip.toarray() == 0
    ids, scores, ev, _ = score_topk(hist, nbr, 12, exclude=skip, n_evidence=2)
    r_ids, r_scores = reference_topk(dense, reached, 12)
    np.testing.assert_array_equal(ids, r_ids)
    np.testing.assert_array_equal(scores, r_scores)
    assert ev is not None and ev.shape == (6, 12, 2) and (ev[ids < 0] == -1).all()
    with pytest.raises(ValueError, match="square"):
        score_topk(hist, nbr, 3, exclude_seen=True)
    with pytest.raises(ValueError, match="4 columns"):
        score_topk(nbr, nbr, 3)


def test_dense_path_is_the_sparse_product() -> None:
    ui = as_csr(random_ratings(1, 40, 30, 0.2), "ui")
    model = ItemKNN(n_neighbours=8).fit(ui)
    want = np.asarray((ui @ model.similarity_).toarray(), np.float32)
    np.testing.assert_array_equal(model.score_items(np.arange(40)), want)
    ids, scores, *_ = oracle.score_topk(ui[:5], model.similarity_, 4, True, 0)
    got = model.recommend(ui[:5], k=4)
    np.testing.assert_array_equal(got[0], ids)
    np.testing.assert_array_equal(got[1], scores)
