"""SequentialLinear's candidate-restricted ridge solve: exact at full coverage, bounded, PSD."""

import numpy as np
import pytest
import scipy.sparse as sp

from convrec.cf.ridge import candidate_sets, keep_largest_magnitude_csr, pruned_gram
from convrec.cf.seqlinear import SequentialLinear, keep_largest_magnitude
from convrec.data import build_dataset


def _data(seed, n_users=50, n_items=40, per_user=10):
    rng = np.random.default_rng(seed)
    users, items, stamps = [], [], []
    popularity = 1.0 / np.arange(1, n_items + 1)
    for u in range(n_users):
        chosen = rng.choice(n_items, size=per_user, replace=False, p=popularity / popularity.sum())
        users += [f"u{u}"] * per_user
        items += [f"i{i}" for i in chosen]
        stamps += (np.sort(rng.integers(0, 50, size=per_user)) + 100 * u).tolist()
    n = len(users)
    return build_dataset(
        "tiny",
        source="memory",
        user_ids=np.array(users),
        item_ids=np.array(items),
        rating=np.full(n, 4.0),
        timestamp=np.asarray(stamps, dtype=np.int64),
        lines=np.arange(1, n + 1),
    )


def _fit(data, **params):
    return SequentialLinear(window=5, l2=3.0, **params).fit(data, np.arange(data.n_interactions))


@pytest.mark.parametrize("k", [0, 6])
def test_sparse_solve_with_every_item_a_candidate_is_the_dense_solve(k):
    data = _data(1)
    dense = _fit(data, k=k, solver="dense").neighbours_.toarray()
    sparse = _fit(data, k=k, solver="sparse", candidates=data.n_items, gram_neighbours=data.n_items)
    np.testing.assert_allclose(sparse.neighbours_.toarray(), dense, rtol=1e-5, atol=1e-7)


def test_sparse_solve_stays_close_with_fewer_candidates():
    data = _data(2, n_users=120, n_items=60)
    dense = _fit(data, k=0, solver="dense")
    sparse = _fit(data, k=0, solver="sparse", candidates=20, gram_neighbours=15)
    w = sparse.neighbours_.tocsc()
    assert np.diff(w.indptr).max() <= 20  # each target's weights live on its candidates
    a, b = dense.neighbours_.toarray().ravel(), w.toarray().ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.75  # 0.82 measured; 1.0 with 60 candidates
    users = np.arange(data.n_users, dtype=np.int32)
    top_dense, _ = dense.recommend(users, k=5)
    top_sparse, _ = sparse.recommend(users, k=5)
    shared = [len(set(p) & set(q)) / 5 for p, q in zip(top_dense, top_sparse, strict=True)]
    assert np.mean(shared) > 0.7


def test_auto_takes_the_sparse_solve_above_the_dense_limit():
    data = _data(3)
    limit = data.n_items - 1
    auto = SequentialLinear(max_dense_items=limit, candidates=10, gram_neighbours=8)
    assert not auto.dense_solve(data.n_items) and auto.dense_solve(limit)
    auto.fit(data, np.arange(data.n_interactions))
    forced = SequentialLinear(solver="sparse", candidates=10, gram_neighbours=8)
    forced.fit(data, np.arange(data.n_interactions))
    assert auto.neighbours_.nnz > 0
    np.testing.assert_array_equal(auto.neighbours_.toarray(), forced.neighbours_.toarray())
    with pytest.raises(ValueError, match="need solver='sparse' or 'auto'"):
        SequentialLinear(solver="dense", max_dense_items=limit).fit(
            data, np.arange(data.n_interactions)
        )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"solver": "qr"}, "solver must be"),
        ({"candidates": 0}, "candidates >= 1"),
        ({"gram_neighbours": 0}, "gram_neighbours >= 1"),
        ({"max_dense_items": 0}, "max_dense_items >= 1"),
    ],
)
def test_bad_solver_parameters_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        SequentialLinear(**params)


def test_pruned_gram_keeps_exact_entries_and_its_correction_dominates_the_gram():
    x = sp.random(200, 30, density=0.2, random_state=5, format="csr") * 3.0
    full = (x.T @ x).toarray()
    rows, diag, dropped = pruned_gram(x, 4)
    assert (np.diff(rows.indptr) <= 4).all()
    kept = np.maximum(rows.toarray(), rows.toarray().T)  # the symmetric union the solve reads
    np.testing.assert_allclose(diag, np.diag(full))
    assert (np.diag(kept) == 0).all()
    mask = kept != 0
    np.testing.assert_allclose(kept[mask], full[mask])
    off_full = full - np.diag(np.diag(full))
    np.testing.assert_allclose(dropped, off_full.sum(axis=1) - kept.sum(axis=1), atol=1e-9)
    # pruned + (diagonal + left-out mass) - G is positive semi-definite
    correction = kept + np.diag(diag + dropped) - full
    assert np.linalg.eigvalsh(correction).min() > -1e-9
    # every row keeps its 4 largest off-diagonal entries
    for row in range(30):
        top = np.argsort(-off_full[row])[:4]
        assert mask[row, top[off_full[row, top] > 0]].all()
    off_all, _, dropped_all = pruned_gram(x, 29)
    np.testing.assert_allclose(off_all.toarray(), off_full)
    np.testing.assert_allclose(dropped_all, 0.0, atol=1e-9)


def test_candidate_sets_rank_predecessors_then_pad_with_frequent_items():
    rhs_t = sp.csr_matrix(
        np.array([[0, 2, 0, 5, 1], [0] * 5, [3, 0, 0, 0, 0], [0] * 5, [0] * 5], dtype=float)
    )
    popular = np.array([4, 2, 0, 1, 3])
    targets, sets = candidate_sets(rhs_t, 3, popular)
    np.testing.assert_array_equal(targets, [0, 2])
    np.testing.assert_array_equal(sets, [[3, 1, 4], [0, 4, 2]])


def test_keep_largest_magnitude_csr_matches_the_dense_version():
    dense = np.random.default_rng(6).normal(size=(12, 9))
    dense[dense > 1.0] = 0.0
    for k in (0, 1, 3, 9):
        np.testing.assert_array_equal(
            keep_largest_magnitude_csr(sp.csr_matrix(dense), k).toarray(),
            keep_largest_magnitude(dense.copy(), k).toarray(),
        )


def test_examples_past_max_inputs_are_a_seeded_subset_of_whole_examples(ml100k):
    rows = np.arange(ml100k.n_interactions)
    x_all, y_all = SequentialLinear().examples(ml100k, rows)
    x_sub, y_sub = SequentialLinear(max_inputs=x_all.nnz // 4).examples(ml100k, rows)
    assert 0.2 * x_all.nnz < x_sub.nnz < 0.3 * x_all.nnz
    again, _ = SequentialLinear(max_inputs=x_all.nnz // 4).examples(ml100k, rows)
    assert (again != x_sub).nnz == 0  # seeded
    # every kept example is one of the full set's rows, whole: find each by its target and inputs
    full = {
        (y_all.indices[r], x_all[r].indices.tobytes(), x_all[r].data.tobytes())
        for r in range(x_all.shape[0])
    }
    for r in range(0, x_sub.shape[0], 97):
        assert (y_sub.indices[r], x_sub[r].indices.tobytes(), x_sub[r].data.tobytes()) in full
    model = SequentialLinear(max_inputs=x_all.nnz // 4).fit(ml100k, rows)
    assert model.neighbours_.nnz > 0
    with pytest.raises(ValueError, match="max_inputs"):
        SequentialLinear(max_inputs=0)
