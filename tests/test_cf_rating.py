"""CF rating models: KNNBaseline vs plain loops, BPMF recovery, fallbacks, blend, persistence."""

import math

import numpy as np
import pytest

from convrec.cf.baselines import BiasBaseline
from convrec.cf.factor import BPMF
from convrec.cf.rating import Blend, KNNBaseline
from convrec.data import build_dataset
from convrec.evaluation.specs import rating_model_specs
from convrec.storage import load_npz, save_npz

# 6 users x 5 items, 0 = missing
MATRIX = np.array(
    [
        [5, 3, 0, 1, 4],
        [4, 0, 0, 1, 5],
        [1, 1, 0, 5, 2],
        [1, 0, 4, 4, 0],
        [0, 1, 5, 4, 3],
        [3, 2, 4, 0, 1],
    ]
)


def _dataset(matrix, extra=()):
    """Dataset of the non-zero entries of ``matrix`` (row-major order) plus ``extra`` triples."""
    users, items = np.nonzero(matrix)
    triples = [(int(u), int(i), float(matrix[u, i])) for u, i in zip(users, items, strict=True)]
    triples += list(extra)
    n = len(triples)
    return build_dataset(
        "tiny",
        source="memory",
        user_ids=np.array([f"u{u}" for u, _, _ in triples]),
        item_ids=np.array([f"i{i}" for _, i, _ in triples]),
        rating=np.array([r for _, _, r in triples]),
        timestamp=np.arange(n, dtype=np.int64),
        lines=np.arange(1, n + 1),
    )


def _loop_baselines(triples, n_users, n_items, reg_item, reg_user, epochs=10):
    mu = sum(r for _, _, r in triples) / len(triples)
    bu, bi = [0.0] * n_users, [0.0] * n_items
    for _ in range(epochs):
        for i in range(n_items):
            res = [r - mu - bu[u] for u, j, r in triples if j == i]
            bi[i] = sum(res) / (reg_item + len(res)) if res or reg_item else 0.0
        for u in range(n_users):
            res = [r - mu - bi[i] for v, i, r in triples if v == u]
            bu[u] = sum(res) / (reg_user + len(res)) if res or reg_user else 0.0
    return mu, bu, bi


def _loop_knn(matrix, kind, k, min_k, shrink, reg_item, reg_user):
    """Every (user, item) prediction of KNNBaseline by plain loops: ``float[n_users, n_items]``."""
    n_users, n_items = matrix.shape
    triples = [(u, i, float(matrix[u, i])) for u in range(n_users) for i in range(n_items)]
    triples = [t for t in triples if t[2] > 0]
    mu, bu, bi = _loop_baselines(triples, n_users, n_items, reg_item, reg_user)
    rated = {(u, i): r - mu - bu[u] - bi[i] for u, i, r in triples}
    # orient as (entity, context): item-kind entities are items
    if kind == "item":
        res = {(i, u): x for (u, i), x in rated.items()}
        n_entity, n_context = n_items, n_users
    else:
        res = {(u, i): x for (u, i), x in rated.items()}
        n_entity, n_context = n_users, n_items

    def sim(a, b):
        common = [c for c in range(n_context) if (a, c) in res and (b, c) in res]
        if a == b or not common:
            return 0.0
        num = sum(res[a, c] * res[b, c] for c in common)
        den = math.sqrt(sum(res[a, c] ** 2 for c in common) * sum(res[b, c] ** 2 for c in common))
        return 0.0 if den == 0 else num / den * len(common) / (len(common) + shrink)

    out = np.zeros((n_users, n_items))
    for u in range(n_users):
        for i in range(n_items):
            target, context = (i, u) if kind == "item" else (u, i)
            cands = [
                (sim(target, b), res[b, context])
                for b in range(n_entity)
                if b != target and (b, context) in res
            ]
            cands = [c for c in cands if c[0] != 0.0]
            top = sorted(cands, key=lambda c: -c[0])[:k]
            weight = sum(abs(s) for s, _ in top)
            term = 0.0
            if len(top) >= max(min_k, 1) and weight > 0:
                term = sum(s * x for s, x in top) / weight
            out[u, i] = mu + bu[u] + bi[i] + term
    return out


@pytest.mark.parametrize("kind", ["item", "user"])
@pytest.mark.parametrize(("k", "min_k", "shrink"), [(2, 1, 1.0), (40, 1, 0.0), (3, 3, 2.5)])
def test_knn_baseline_matches_plain_loops(kind, k, min_k, shrink):
    data = _dataset(MATRIX)
    model = KNNBaseline(kind=kind, k=k, min_k=min_k, shrink=shrink, reg_item=2.0, reg_user=3.0)
    model.fit(data, np.arange(data.n_interactions))
    users, items = np.meshgrid(np.arange(6), np.arange(5), indexing="ij")
    # internal indices follow the sorted ids "u0".."u5", "i0".."i4"
    got = model.predict_ratings(users.ravel().astype(np.int32), items.ravel().astype(np.int32))
    expected = _loop_knn(MATRIX, kind, k, min_k, shrink, 2.0, 3.0)
    np.testing.assert_allclose(got.reshape(6, 5), expected, rtol=0, atol=1e-6)


def test_knn_prediction_batches_do_not_change_the_answer():
    data = _dataset(MATRIX)
    rows = np.arange(data.n_interactions)
    users = np.repeat(np.arange(6, dtype=np.int32), 5)
    items = np.tile(np.arange(5, dtype=np.int32), 6)
    whole = KNNBaseline(k=2, shrink=1.0).fit(data, rows).predict_ratings(users, items)
    small = KNNBaseline(k=2, shrink=1.0, batch=3).fit(data, rows).predict_ratings(users, items)
    np.testing.assert_array_equal(whole, small)


def test_similarity_is_symmetric_with_zero_diagonal():
    data = _dataset(MATRIX)
    model = KNNBaseline(shrink=1.0).fit(data, np.arange(data.n_interactions))
    sim = model.similarity_
    assert sim.shape == (5, 5) and sim.dtype == np.float32
    np.testing.assert_allclose(sim, sim.T, atol=1e-7)
    assert np.all(np.diag(sim) == 0) and np.all(np.abs(sim) <= 1)


def _cold_item_data():
    """MATRIX plus item "i9" rated only in the last row, which the models never see."""
    data = _dataset(MATRIX, extra=[(0, 9, 2.0)])
    fit_rows = np.arange(data.n_interactions - 1)
    return data, fit_rows, data.items.index("i9")


@pytest.mark.parametrize("kind", ["item", "user"])
def test_knn_cold_item_falls_back_to_the_baseline(kind):
    data, rows, cold = _cold_item_data()
    model = KNNBaseline(kind=kind, reg_item=2.0, reg_user=3.0).fit(data, rows)
    users = np.arange(6, dtype=np.int32)
    items = np.full(6, cold, dtype=np.int32)
    expected = BiasBaseline(2.0, 3.0).fit(data, rows).predict_ratings(users, items)
    np.testing.assert_allclose(model.predict_ratings(users, items), expected)
    assert model.baselines_.item_bias_[cold] == 0.0


def test_bpmf_cold_item_gets_the_offset_alone():
    data, rows, cold = _cold_item_data()
    users = np.arange(6, dtype=np.int32)
    items = np.full(6, cold, dtype=np.int32)
    mean = float(data.rating[rows].mean())
    model = BPMF(n_samples=5, burn_in=2).fit(data, rows)
    np.testing.assert_allclose(model.predict_ratings(users, items), mean)
    biased = BPMF(n_samples=5, burn_in=2, offset="bias", reg_item=2.0, reg_user=3.0)
    biased.fit(data, rows)
    expected = BiasBaseline(2.0, 3.0).fit(data, rows).predict_ratings(users, items)
    np.testing.assert_allclose(biased.predict_ratings(users, items), expected)


def test_unknown_indices_fall_back_to_the_baseline():
    data = _dataset(MATRIX)
    model = KNNBaseline().fit(data, np.arange(data.n_interactions))
    out = model.predict_ratings(np.array([99], np.int32), np.array([0], np.int32))
    b = model.baselines_
    np.testing.assert_allclose(out, [b.mean_ + b.item_bias_[0]])


def test_bpmf_recovers_a_rank_one_matrix():
    rng = np.random.default_rng(3)
    a = rng.uniform(0.5, 1.5, 30)
    b = rng.uniform(0.5, 1.5, 20)
    full = 1.0 + 1.6 * np.outer(a, b)  # within [1.4, 4.6]
    observed = rng.random(full.shape) < 0.6
    users, items = np.nonzero(observed)
    data = build_dataset(
        "rank1",
        source="memory",
        user_ids=users,
        item_ids=items,
        rating=full[users, items],
        timestamp=np.zeros(len(users), np.int64),
        lines=np.arange(len(users)),
    )
    model = BPMF(n_factors=3, alpha=200.0, n_samples=100, burn_in=50, seed=0)
    model.fit(data, np.arange(data.n_interactions))
    # ids are 0..29 and 0..19, so internal indices equal them
    hu, hi = np.nonzero(~observed)
    pred = model.predict_ratings(hu.astype(np.int32), hi.astype(np.int32))
    rmse = float(np.sqrt(np.mean((pred - full[hu, hi]) ** 2)))
    spread = float(np.std(full[hu, hi]))
    assert rmse < 0.1 < spread


def test_bpmf_is_deterministic_for_a_seed():
    data = _dataset(MATRIX)
    rows = np.arange(data.n_interactions)
    users = np.repeat(np.arange(6, dtype=np.int32), 5)
    items = np.tile(np.arange(5, dtype=np.int32), 6)
    p1 = BPMF(n_samples=10, burn_in=5, seed=7).fit(data, rows).predict_ratings(users, items)
    p2 = BPMF(n_samples=10, burn_in=5, seed=7).fit(data, rows).predict_ratings(users, items)
    p3 = BPMF(n_samples=10, burn_in=5, seed=8).fit(data, rows).predict_ratings(users, items)
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, p3)


def test_blend_weights_come_from_the_fitting_rows_only():
    # the same users and items; only the two ratings outside `rows` differ
    low = _dataset(MATRIX, extra=[(0, 2, 1.0), (3, 1, 1.0)])
    high = _dataset(MATRIX, extra=[(0, 2, 5.0), (3, 1, 5.0)])
    rows = np.arange(np.count_nonzero(MATRIX))
    blend = Blend(holdout=0.3).fit(low, rows)
    assert blend.weights_.shape == (1 + len(blend.members),)
    other = Blend(holdout=0.3).fit(high, rows)
    np.testing.assert_array_equal(other.weights_, blend.weights_)


def test_blend_of_one_member_reproduces_it_up_to_an_affine_map():
    data = _dataset(MATRIX)
    rows = np.arange(data.n_interactions)
    members = (("KNNBaseline", {"k": 2, "shrink": 1.0}),)
    blend = Blend(members=members, holdout=0.3, ridge=0.0).fit(data, rows)
    users = np.repeat(np.arange(6, dtype=np.int32), 5)
    items = np.tile(np.arange(5, dtype=np.int32), 6)
    knn = KNNBaseline(k=2, shrink=1.0).fit(data, rows).predict_ratings(users, items)
    w0, w1 = blend.weights_
    np.testing.assert_allclose(
        blend.predict_ratings(users, items), w0 + w1 * np.clip(knn, 1, 5), atol=1e-9
    )


def test_blend_rejects_an_unknown_member():
    with pytest.raises(ValueError, match="unknown blend member"):
        Blend(members=(("NoSuchModel", {}),))


@pytest.mark.parametrize(
    "factory",
    [
        lambda: KNNBaseline(kind="item", shrink=1.0),
        lambda: KNNBaseline(kind="user", k=3),
        lambda: BPMF(n_samples=6, burn_in=2, offset="bias"),
        lambda: Blend(holdout=0.3),
    ],
)
def test_save_load_round_trip(tmp_path, factory):
    data = _dataset(MATRIX)
    model = factory().fit(data, np.arange(data.n_interactions))
    path = model.save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:  # no object arrays inside
        assert all(archive[k].dtype != object for k in archive.files)
    loaded = type(model).load(path)
    assert loaded.params() == model.params()
    users = np.repeat(np.arange(6, dtype=np.int32), 5)
    items = np.tile(np.arange(5, dtype=np.int32), 6)
    np.testing.assert_array_equal(
        loaded.predict_ratings(users, items), model.predict_ratings(users, items)
    )


def test_a_file_without_histories_still_rates_and_ranks(tmp_path):
    """Files written before the CF contract hold no ``seen_*`` arrays: they load, rate and
    rank as before; only leaving out the fitted users' own items needs a refit."""
    data = _dataset(MATRIX)
    model = KNNBaseline(kind="item", shrink=1.0).fit(data, np.arange(data.n_interactions))
    _, params, arrays = load_npz(model.save(tmp_path / "new.npz"), "KNNBaseline")
    assert {"seen_indptr", "seen_indices"} <= set(arrays)
    old = {k: v for k, v in arrays.items() if not k.startswith("seen_")}
    loaded = KNNBaseline.load(save_npz(tmp_path / "old.npz", "KNNBaseline", params, old))
    assert (loaded.n_users, loaded.n_items) == (data.n_users, data.n_items)
    users = np.arange(data.n_users, dtype=np.int32)
    np.testing.assert_array_equal(loaded.score_items(users), model.score_items(users))
    for got, want in zip(
        loaded.recommend(users, k=3, exclude_seen=False),
        model.recommend(users, k=3, exclude_seen=False),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="saved without its training histories"):
        loaded.recommend(users, k=3)


def test_load_refuses_another_model(tmp_path):
    data = _dataset(MATRIX)
    path = KNNBaseline().fit(data, np.arange(data.n_interactions)).save(tmp_path / "knn.npz")
    with pytest.raises(ValueError, match="KNNBaseline"):
        BPMF.load(path)


def test_rating_model_specs():
    specs = rating_model_specs()
    assert [s.name for s in specs] == ["cf_knn_item", "cf_knn_user", "cf_bpmf", "cf_blend"]
    for spec in specs:
        for point in spec.grid:
            assert hasattr(spec.factory(**dict(point)), "predict_ratings")


@pytest.mark.slow
def test_protocol_a_cf_rating_goal(ml100k):
    from convrec.evaluation import run_protocol

    report = run_protocol(ml100k, "A", rating_model_specs())
    rmse = {name: values["rmse"] for name, values in report.models.items()}
    assert rmse["cf_knn_item"] <= 0.9065 + 5e-5  # the numbers measured at integration
    assert rmse["cf_knn_user"] <= 0.9174 + 5e-5
    assert rmse["cf_bpmf"] <= 0.8903 + 5e-5
    assert rmse["cf_blend"] <= 0.8854 + 5e-5
    assert rmse["cf_blend"] <= min(rmse["cf_knn_item"], rmse["cf_knn_user"])


def test_a_recommender_rates_with_the_blend_and_its_sessions_with_its_biases(ml100k, tmp_path):
    from convrec import Recommender
    from convrec.cf.rating import Blend
    from convrec.recommender import RecommenderConfig

    rows = np.arange(0, ml100k.n_interactions, 2)
    rec = Recommender.build(ml100k, rows, RecommenderConfig(rating={"model": "Blend"}))
    assert isinstance(rec.rating, Blend)
    users, items = ml100k.user[1:40:2], ml100k.item[1:40:2]
    own = np.clip(Blend().fit(ml100k, rows).predict_ratings(users, items), 1, 5)
    np.testing.assert_allclose(rec.predict_ratings(users, items), own)
    bias = rec.rating.baselines_  # its BiasBaseline member rates a session's items
    assert bias is rec.rating.models_[0]
    session = rec.recommend(liked=["Star Wars"], k=3, explain=False)
    for item in session:
        i = ml100k.items.index(item.item_id)
        assert item.predicted_rating == pytest.approx(
            np.clip(bias.mean_ + bias.item_bias_[i], 1, 5)
        )
    loaded = Recommender.from_pretrained(rec.save_pretrained(tmp_path / "rec"))
    np.testing.assert_allclose(loaded.predict_ratings(users, items), own)
