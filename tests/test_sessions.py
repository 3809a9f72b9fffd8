"""Protocol S (cold sessions): user split, sessions, set metrics, EASE, fold-in, the runner, CLI."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from convrec.cf import EASE, ItemKNN, MostPopular, SequentialLinear
from convrec.cf.sequential import history_weights
from convrec.data import build_dataset
from convrec.data.dataset import Dataset
from convrec.evaluation.metrics import target_set_metrics
from convrec.evaluation.sessions import (
    build_sessions,
    cold_items,
    cold_sessions,
    positive_threshold,
    random_floor,
    run_sessions,
    session_scores,
    user_split,
    with_cold_item_text,
)
from convrec.evaluation.specs import ModelSpec, default_models

from .conftest import make_llm_data


def small(rows: list[tuple[int, int, float, int]]) -> Dataset:
    user, item, rating, stamp = (np.array(c) for c in zip(*rows, strict=True))
    return build_dataset(
        "small", source="memory", user_ids=user, item_ids=item, rating=rating.astype(float),
        timestamp=stamp.astype(np.int64), lines=np.arange(1, len(rows) + 1),
    )  # fmt: skip


def test_the_user_split_partitions_every_user_and_trains_on_train_users_only() -> None:
    data = make_llm_data(n_users=40)
    split = user_split(data, seed=3)
    parts = [split.users(p) for p in ("train", "valid", "test")]
    assert [len(p) for p in parts] == [32, 4, 4]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(40))
    assert set(data.user[split.train].tolist()) == set(split.train_users.tolist())
    assert len(split.train) == int(np.isin(data.user, split.train_users).sum())
    again = user_split(data, seed=3)
    assert np.array_equal(again.test_users, split.test_users)
    assert not np.array_equal(user_split(data, seed=4).test_users, split.test_users)


def test_positives_are_the_top_of_the_scale() -> None:
    assert positive_threshold(small([(0, 0, 1.0, 0), (0, 1, 5.0, 1)])) == pytest.approx(3.4)
    assert positive_threshold(small([(0, 0, 0.5, 0), (0, 1, 5.0, 1)])) == pytest.approx(3.2)
    assert positive_threshold(small([(0, 0, 1.0, 0), (0, 1, 1.0, 1)])) == 1.0  # implicit


def test_sessions_are_the_earliest_positives_and_targets_the_later_ones() -> None:
    data = small(
        [
            # user 0: positives 10 (t=1), 11 (t=3), 12 (t=4); 13 is rated 2
            (0, 13, 2.0, 0), (0, 10, 5.0, 1), (0, 11, 4.0, 3), (0, 12, 5.0, 4),
            # user 1: one positive only
            (1, 10, 5.0, 0), (1, 11, 1.0, 1),
            # user 2: ties in time are ordered by item
            (2, 12, 5.0, 7), (2, 11, 5.0, 7), (2, 13, 5.0, 8),
        ]
    )  # fmt: skip

    def idx(item: int) -> int:
        return data.items.index(str(item))

    sessions = build_sessions(data, np.array([0, 1, 2], np.int32), n=1)
    assert [data.users.external[u] for u in sessions.users] == ["0", "2"]
    assert sessions.seen[0].indices.tolist() == [idx(10)]
    assert sorted(sessions.targets[0].indices.tolist()) == sorted([idx(11), idx(12)])
    assert sessions.seen[1].indices.tolist() == [idx(11)]
    assert sorted(sessions.targets[1].indices.tolist()) == sorted([idx(12), idx(13)])
    two = build_sessions(data, np.array([0, 1, 2], np.int32), n=2)
    assert len(two.users) == 2 and len(two.rows) == 4
    assert two.targets[0].indices.tolist() == [idx(12)]


def test_set_metrics_known_answer_and_pessimistic_ties() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [1.0, 1.0, 1.0, 1.0, 1.0]])
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]))
    targets = sp.csr_matrix(np.array([[0, 0, 1, 0, 1], [0, 0, 1, 0, 0]]))
    m = target_set_metrics(scores, exclude, targets, ks=(2, 4))
    # row 0 ranks 1, 2, 3, 4 (item 0 excluded): targets at positions 2 and 4 (1-based)
    assert m["recall@2"][0] == 0.5 and m["hr@2"][0] == 1.0
    assert m["ndcg@2"][0] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert m["recall@4"][0] == 1.0
    ideal = 1 + 1 / np.log2(3)
    assert m["ndcg@4"][0] == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / ideal)
    # row 1: every score tied: the target goes last, outside the top 4
    assert m["hr@4"][1] == 0.0 and m["recall@4"][1] == 0.0
    with pytest.raises(ValueError, match="target"):
        target_set_metrics(scores, exclude, sp.csr_matrix((2, 5)), ks=(2,))


def test_ease_is_the_closed_form() -> None:
    data = make_llm_data(n_users=30, n_items=12)
    rows = np.arange(data.n_interactions)
    model = EASE(l2=5.0).fit(data, rows)
    x = (data.user_items(rows, values="ones").toarray() > 0).astype(float)
    p = np.linalg.inv(x.T @ x + 5.0 * np.eye(12))
    b = np.eye(12) - p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.neighbours_.toarray(), b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.score_items(np.arange(30)), x @ b, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="l2 > 0"):
        EASE(l2=0.0)


def test_fold_in_weighs_new_histories_as_the_fitted_ones() -> None:
    data = make_llm_data(n_users=30)
    rows = np.arange(data.n_interactions)
    seq = SequentialLinear(l2=10.0).fit(data, rows[data.user[rows] < 20])
    late = rows[data.user[rows] >= 20]
    np.testing.assert_allclose(
        seq.fold_in(data, late).toarray(), seq._weights(data, late).toarray()
    )
    knn = ItemKNN(n_neighbours=5).fit(data, rows)
    ones = knn.fold_in(data, late)
    assert set(np.unique(ones.data).tolist()) == {1.0}
    assert ones.nnz == len(late)
    recency = EASE().fold_in(data, late)  # tau = inf: every item weighs 1
    np.testing.assert_allclose(recency.toarray(), history_weights(data, late, np.inf).toarray())


def test_folding_a_fitted_users_rows_in_reproduces_its_scores() -> None:
    data = make_llm_data(n_users=30)
    rows = np.arange(data.n_interactions)
    users = np.array([25, 26, 27], np.int32)
    own = rows[np.isin(data.user[rows], users)]
    for model in (ItemKNN(n_neighbours=5), EASE(l2=10.0), SequentialLinear(l2=10.0)):
        model.fit(data, rows)
        hist = model.fold_in(data, own)[users]
        np.testing.assert_allclose(
            model.score_items(hist), model.score_items(users), rtol=1e-5, atol=1e-6
        )
        sessions = build_sessions(data, users, n=3)
        expected = model.score_items(model.fold_in(data, sessions.rows)[sessions.users])
        np.testing.assert_array_equal(session_scores(model, data, sessions), expected)


def test_content_sessions_score_as_fitted_profiles() -> None:
    from convrec.cbf import ContentModel

    data = make_llm_data(n_users=30)
    rows = np.arange(data.n_interactions)
    model = ContentModel(weighting="uniform").fit(data, rows)
    users = np.array([3, 7], np.int32)
    own = rows[np.isin(data.user[rows], users)]
    np.testing.assert_allclose(
        model.score_sessions(data, own, users), model.score_items(users), rtol=1e-5, atol=1e-6
    )


class Recording(MostPopular):
    """MostPopular that remembers the users it was fitted on."""

    fitted_users: ClassVar[set[int]] = set()

    def fit(self, data: Dataset, rows: np.ndarray) -> "Recording":
        Recording.fitted_users = set(data.user[rows].tolist())
        return super().fit(data, rows)


def test_the_runner_fits_on_train_users_and_reports_each_n(tmp_path: Path) -> None:
    data = make_llm_data(n_users=60, n_items=30)
    split = user_split(data)
    specs = [
        ModelSpec("recording", Recording),
        ModelSpec("ease", EASE, grid=[{"l2": 1.0}, {"l2": 50.0}]),
    ]
    reports = run_sessions(data, specs, sizes=(1, 3))
    assert Recording.fitted_users == set(split.train_users.tolist())
    assert [r.n for r in reports] == [1, 3]
    for report in reports:
        payload: dict[str, Any] = report.to_json()
        assert payload["protocol"] == "S" and payload["N"] == report.n
        metrics = payload["models"]["ease"]
        for key in ("ndcg@10", "recall@10", "recall@20", "hr@10"):
            assert 0.0 <= metrics[key] <= 1.0
            assert metrics[f"{key}_se"] >= 0.0
        assert payload["params"]["ease"]["l2"] in (1.0, 50.0)
        assert payload["split"]["users"] == {"train": 48, "valid": 6, "test": 6}
        assert set(payload["fingerprints"]) == {"train", "valid", "test"}
        assert "protocol S, sessions of N=" in report.table()


def test_too_few_session_users_is_a_clear_error() -> None:
    data = make_llm_data(n_users=40)
    with pytest.raises(ValueError, match="too few users with 13 or more positives"):
        run_sessions(data, [ModelSpec("most_popular", MostPopular)], sizes=(12,))


def test_protocol_s_lists_ranking_models_only() -> None:
    names = [s.name for s in default_models("S")]
    assert names[0] == "most_popular" and "ease" in names and "cbf" in names
    assert "bias_baseline" not in names and "cf_blend" not in names


def test_the_cli_writes_one_object_per_session_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["user_id,item_id,rating,timestamp"]
    for u in range(80):
        for k, i in enumerate(rng.choice(40, size=16, replace=False)):
            lines.append(f"u{u},i{i},{5 if (u + i) % 3 else 2},{1000 * u + k}")
    csv = tmp_path / "r.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "s.json"
    run = subprocess.run(
        [sys.executable, "-m", "convrec.cli", "eval", "--data", str(csv), "--protocol", "S",
         "--models", "most_popular,ease", "--json", str(out)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    payload = json.loads(out.read_text())
    assert [p["N"] for p in payload] == [1, 3, 5]
    assert all(set(p["models"]) == {"most_popular", "ease"} for p in payload)
    assert "protocol S, sessions of N=1" in run.stdout


def test_cold_items_leave_training_and_are_ranked_against_each_other() -> None:
    data = make_llm_data(n_users=60, n_items=40)
    cold = cold_items(data, share=0.1)
    assert len(cold) == 4 and np.array_equal(cold, cold_items(data, share=0.1))
    split = user_split(data)
    sessions = cold_sessions(data, split.test_users, 2, cold)
    assert len(sessions.users) > 0
    for b in range(len(sessions.users)):
        targets = sessions.targets[b].indices
        assert set(targets.tolist()) <= set(cold.tolist())
        candidates = np.setdiff1d(np.arange(40), sessions.seen[b].indices)
        assert set(candidates.tolist()) <= set(cold.tolist())
    floor = random_floor(sessions, k=10)
    # four cold candidates at most, all inside a top 10: a random order finds every target
    np.testing.assert_allclose(floor["hr@10"], 1.0)
    np.testing.assert_allclose(floor["recall@10"], 1.0)


def test_the_random_floor_is_the_expectation_of_random_orders() -> None:
    rng = np.random.default_rng(0)
    seen = sp.csr_matrix(np.eye(1, 30, dtype=np.float32))
    targets = sp.csr_matrix(np.isin(np.arange(30), [3, 7, 20])[None, :].astype(np.float32))
    floor = random_floor(_one_session(seen, targets), k=5)
    many = 4000
    draws = target_set_metrics(
        rng.random((many, 30)),
        sp.vstack([seen] * many).tocsr(),
        sp.vstack([targets] * many).tocsr(),
        ks=(5,),
    )
    for key in ("hr@5", "recall@5", "ndcg@5"):
        assert floor[key][0] == pytest.approx(draws[key].mean(), abs=0.02)


def _one_session(seen: sp.csr_matrix, targets: sp.csr_matrix) -> Any:
    from convrec.evaluation.sessions import Sessions

    return Sessions(1, np.array([0], np.int32), np.array([0], np.int64), seen, targets)


def test_the_runner_reports_the_cold_block() -> None:
    data = make_llm_data(n_users=200, n_items=200)
    reports = run_sessions(
        data, [ModelSpec("most_popular", MostPopular), ModelSpec("ease", EASE)],
        sizes=(1,), cold_share=0.1,
    )  # fmt: skip
    cold = reports[0].to_json()["cold"]
    assert set(cold) == {"random", "most_popular", "ease"}
    # no training interaction: every cold item ties at zero for CF, ranked pessimistically
    assert cold["most_popular"]["hr@10"] == 0.0 and cold["ease"]["hr@10"] == 0.0
    assert cold["random"]["hr@10"] > 0.3
    assert "cold items: 20 items" in reports[0].table()


def test_cold_items_keep_their_train_users_reviews_as_text() -> None:
    data = make_llm_data(n_users=60, n_items=40)
    split = user_split(data)
    cold = cold_items(data, share=0.1)
    described = with_cold_item_text(data, split.train, cold)
    assert described.summary == data.summary and np.array_equal(described.item, data.item)
    for i in range(data.n_items):
        if i not in cold:
            assert described.catalog.text[i] == data.catalog.text[i]
            continue
        text = described.catalog.text[i]
        mine = np.flatnonzero(data.item == i)
        trained = np.isin(mine, split.train)
        assert trained.any() and "Keywords: " in text
        # summaries are unique per row: the train users' show, the others' never do
        assert any(data.summary[r] in text for r in mine[trained])
        assert not any(data.summary[r] + "." in text + "." for r in mine[~trained])
    plain = make_llm_data(n_users=60, n_items=40, reviews=False)
    assert with_cold_item_text(plain, user_split(plain).train, cold) is plain


class _Recorded(MostPopular):
    """MostPopular that keeps what each fit was given."""

    fits: ClassVar[list[tuple[Dataset, np.ndarray]]] = []

    def fit(self, data: Dataset, rows: np.ndarray) -> "_Recorded":
        _Recorded.fits.append((data, rows))
        super().fit(data, rows)
        return self


def test_the_cold_refit_reads_the_cold_items_text_but_none_of_their_rows() -> None:
    data = make_llm_data(n_users=200, n_items=200)
    _Recorded.fits.clear()
    run_sessions(data, [ModelSpec("recorded", _Recorded)], sizes=(1,), cold_share=0.1)
    (first, train), (refit, warm) = _Recorded.fits
    cold = cold_items(data, share=0.1)
    assert first is data and not np.isin(cold, data.item[warm]).any()
    assert np.array_equal(warm, train[~np.isin(data.item[train], cold)])
    assert all(refit.catalog.text[i] for i in cold.tolist())
    assert not any(data.catalog.text[i] for i in cold.tolist())


def test_the_runner_reports_how_varied_each_models_session_lists_are() -> None:
    data = make_llm_data(n_users=200, n_items=200)
    specs = [ModelSpec("most_popular", MostPopular), ModelSpec("ease", EASE)]
    (report,) = run_sessions(data, specs, sizes=(1,), cold_share=0.0)
    spread = report.to_json()["diversity"]
    assert set(spread) == {"most_popular", "ease"} and report.diversity_features == "genres"
    # one list for everyone but the session's own item: at most 11 distinct items
    assert 10 / 200 <= spread["most_popular"]["coverage@10"] <= 11 / 200
    assert spread["ease"]["coverage@10"] > spread["most_popular"]["coverage@10"]
    counts = np.bincount(data.item[user_split(data).train], minlength=200)
    assert spread["most_popular"]["pop@10"] >= np.sort(counts)[-11:-1].mean()
    assert "diversity and popularity of the test top-10" in report.table()


def test_paired_differences_are_against_the_best_other_model() -> None:
    from convrec.evaluation.sessions import paired_differences

    got = paired_differences(
        {"a": np.array([1.0, 0.0, 1.0]), "b": np.array([0.0, 0.0, 1.0]), "c": np.zeros(3)}
    )
    assert got["a"]["vs"] == "b" and got["b"]["vs"] == "a" and got["c"]["vs"] == "a"
    assert got["a"]["ndcg@10_diff"] == pytest.approx(1 / 3)
    assert got["a"]["ndcg@10_diff_se"] == pytest.approx(np.std([1, 0, 0], ddof=1) / np.sqrt(3))
    assert got["c"]["ndcg@10_diff"] == pytest.approx(-2 / 3)
    # against every other model too, the best one's entry included
    assert set(got["c"]["each"]) == {"a", "b"}
    assert got["c"]["each"]["b"]["ndcg@10_diff"] == pytest.approx(-1 / 3)
    assert got["a"]["each"]["b"]["ndcg@10_diff_se"] == got["a"]["ndcg@10_diff_se"]


class GivenPools:
    """A model whose candidate pools are given per session (``int32[B, C]``)."""

    def __init__(self, pools: np.ndarray) -> None:
        self.pools = pools

    def session_pools(self, data, rows, users, blocked=None):  # type: ignore[no-untyped-def]
        assert blocked is not None and blocked.shape == (len(users), data.n_items)
        return self.pools


def test_pool_headroom_known_answers() -> None:
    from convrec.evaluation.sessions import pool_headroom

    data = make_llm_data(n_users=60, n_items=30)
    sessions = build_sessions(data, user_split(data).test_users, 1)
    b = len(sessions.users)
    targets = [sessions.targets[i].indices for i in range(b)]
    free = [np.flatnonzero(~np.asarray(sessions.seen[i].toarray()).ravel().astype(bool))
            for i in range(b)]  # fmt: skip
    # every candidate in the pool: all targets in, a perfect order scores 1
    everything = np.full((b, data.n_items), -1, np.int32)
    for i in range(b):
        everything[i, : len(free[i])] = free[i]
    got = pool_headroom(GivenPools(everything), data, sessions)
    np.testing.assert_allclose(got["pool_recall"], 1.0)
    np.testing.assert_allclose(got["pool_oracle_ndcg@10"], 1.0)
    floor = random_floor(sessions)["ndcg@10"].mean()
    assert abs(got["pool_random_ndcg@10"].mean() - floor) < 0.05
    # only the first target: recall 1/T, and both orders put it first
    first = np.full((b, 3), -1, np.int32)
    first[:, 0] = [t[0] for t in targets]
    got = pool_headroom(GivenPools(first), data, sessions)
    n = np.asarray([len(t) for t in targets], float)
    ideal = np.asarray([sum(1 / np.log2(np.arange(min(10, k)) + 2)) for k in n.astype(int)])
    np.testing.assert_allclose(got["pool_recall"], 1 / n)
    np.testing.assert_allclose(got["pool_oracle_ndcg@10"], 1 / ideal, rtol=1e-6)
    np.testing.assert_allclose(got["pool_random_ndcg@10"], 1 / ideal, rtol=1e-6)
    # no target in the pool: nothing to reach
    others = np.stack([f[~np.isin(f, t)][:5] for f, t in zip(free, targets, strict=True)])
    got = pool_headroom(GivenPools(others.astype(np.int32)), data, sessions)
    assert not any(v.any() for v in got.values())


class PopularPool:
    """Test model with a pool: the ``size`` most chosen training items, ranked by count."""

    def __init__(self, size: int) -> None:
        self.size = size

    def fit(self, data: Dataset, rows: np.ndarray) -> "PopularPool":
        self.count = np.bincount(data.item[rows], minlength=data.n_items).astype(np.float32)
        return self

    def session_pools(self, data, rows, users, blocked=None):  # type: ignore[no-untyped-def]
        out = np.full((len(users), self.size), -1, np.int32)
        for b in range(len(users)):
            score = np.where(blocked[b].toarray().ravel() > 0, -np.inf, self.count)
            out[b] = np.argsort(-score, kind="stable")[: self.size]
        return out

    def score_sessions(self, data, rows, users, blocked=None):  # type: ignore[no-untyped-def]
        out = np.full((len(users), data.n_items), -np.inf, np.float32)
        pools = self.session_pools(data, rows, users, blocked)
        for b in range(len(users)):
            out[b, pools[b]] = self.count[pools[b]]
        return out


def test_the_runner_reports_paired_differences_and_the_pools_headroom() -> None:
    data = make_llm_data(n_users=120, n_items=40)
    specs = [
        ModelSpec("most_popular", MostPopular),
        ModelSpec("pool", PopularPool, grid=[{"size": 2}, {"size": 20}]),
    ]
    (report,) = run_sessions(data, specs, sizes=(1,), cold_share=0.0)
    payload = report.to_json()
    assert payload["paired"]["pool"]["vs"] == "most_popular"
    assert set(payload["paired"]) == {"most_popular", "pool"}
    room = payload["headroom"]["pool"]
    assert set(payload["headroom"]) == {"pool"}  # only models with a pool
    assert 0.0 <= room["pool_random_ndcg@10"] <= room["pool_oracle_ndcg@10"] <= 1.0
    assert room["hindsight_ndcg@10"] >= payload["models"]["pool"]["ndcg@10"] - 1e-12
    assert room["hindsight"]["size"] in (2, 20)
    assert "(paired)" in report.table() and "pool_oracle_ndcg@10" in report.table()


def test_a_shipped_grid_point_is_scored_on_test_beside_the_chosen_one() -> None:
    data = make_llm_data(n_users=120, n_items=40)
    grid = [{"size": 2}, {"size": 20}]
    both = ModelSpec("pool", PopularPool, grid=grid, shipped={"size": 2})
    fixed = ModelSpec("pool", PopularPool, grid=[{"size": 2}])
    (report,) = run_sessions(data, [both], sizes=(1,), cold_share=0.0)
    (alone,) = run_sessions(data, [fixed], sizes=(1,), cold_share=0.0)
    room = report.to_json()["headroom"]["pool"]
    assert room["shipped"] == {"size": 2}
    assert room["shipped_ndcg@10"] == pytest.approx(alone.models["pool"]["ndcg@10"])
    assert "shipped" not in alone.to_json()["headroom"]["pool"]  # nothing shipped, none shown
    assert "shipped_ndcg@10" in report.table()


def test_a_model_trained_on_the_evaluation_users_is_flagged_optimistic() -> None:
    data = make_llm_data(n_users=120, n_items=40)
    specs = [
        ModelSpec("seen", MostPopular, training={"data": data.name, "split": None}),
        ModelSpec("clean", MostPopular, training={"data": data.name, "split": "S"}),
        ModelSpec("elsewhere", MostPopular, training={"data": "other", "split": "A"}),
        ModelSpec(  # clean itself, but started from an adapter that saw everyone
            "inherited",
            MostPopular,
            training={"data": data.name, "split": "S", "init": {"data": data.name, "split": None}},
        ),
        ModelSpec("lost", MostPopular, training={"data": "other", "init": {"unreadable": "gone"}}),
        ModelSpec("most_popular", MostPopular),
    ]
    logged: list[str] = []
    (report,) = run_sessions(data, specs, sizes=(1,), cold_share=0.0, log=logged.append)
    # same data, not --split S (itself or the adapter it started from): saw the test users
    assert set(report.caveats) == {"seen", "inherited"}  # "lost": nothing to tell by
    assert "without --split S" in report.to_json()["caveats"]["seen"]
    assert report.caveats["inherited"].startswith("started from an adapter trained on")
    assert "caveat: seen:" in report.table()
    assert any(line.startswith("warning: seen:") for line in logged)
    (plain,) = run_sessions(data, specs[1:3] + specs[-1:], sizes=(1,), cold_share=0.0)
    assert "caveats" not in plain.to_json()


def test_an_adapters_training_is_read_down_its_init_chain(tmp_path: Path) -> None:
    from convrec.llm.shipped import adapter_training

    def config(name: str, **train: Any) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        saved = {"data": {"name": "ml-100k"}, "train": train}
        (folder / "convrec_config.json").write_text(json.dumps(saved))
        return folder

    base = config("base", split=None)
    child = config("child", split="S", init_adapter=str(base))
    orphan = config("orphan", split="S", init_adapter=str(tmp_path / "gone"))
    assert adapter_training(base) == {"data": "ml-100k", "split": None, "init": None}
    assert adapter_training(child)["init"] == adapter_training(base)
    assert adapter_training(orphan)["init"] == {"unreadable": str(tmp_path / "gone")}
    looped = config("looped", split="S", init_adapter=str(tmp_path / "looped"))
    assert adapter_training(looped)["init"] == {"unreadable": str(looped)}


def test_implicit_als_scores_a_session_as_a_new_user_solved_against_the_item_factors() -> None:
    pytest.importorskip("implicit")
    from convrec.evaluation.peers import ImplicitALS

    data = make_llm_data(n_users=80, n_items=40)
    split = user_split(data)
    model = ImplicitALS(factors=8, regularization=0.5, alpha=3.0, iterations=5).fit(
        data, split.train
    )
    sessions = build_sessions(data, split.test_users, 3)
    got = model.score_sessions(data, sessions.rows, sessions.users)
    y = np.asarray(model.model_.item_factors, np.float64)
    for b, user in enumerate(sessions.users.tolist()):
        items = data.item[sessions.rows[data.user[sessions.rows] == user]]
        p = np.zeros(data.n_items)
        p[items] = 1.0
        c = np.where(p > 0, 3.0, 1.0)  # implicit's confidence: alpha * x, 1 where unseen
        a = (y.T * c) @ y + 0.5 * np.eye(8)
        x = np.linalg.solve(a, (y.T * c) @ p)
        np.testing.assert_allclose(got[b], y @ x, rtol=1e-3, atol=1e-4)
    # the sessions' order is the users' order, whatever order their rows come in
    flipped = model.score_sessions(data, sessions.rows[::-1], sessions.users[::-1])
    np.testing.assert_allclose(flipped, got[::-1], rtol=1e-5, atol=1e-6)


def test_protocol_s_scores_implicit_als_beside_the_others_when_installed() -> None:
    pytest.importorskip("implicit")
    from convrec.evaluation.specs import select_models

    specs = select_models("S", "most_popular,implicit_als")
    assert [s.name for s in specs] == ["most_popular", "implicit_als"]
    assert "implicit_als" in [s.name for s in default_models("S")]
    data = make_llm_data(n_users=200, n_items=200)
    quick = [replace(specs[1], grid=specs[1].grid[:2])]
    (report,) = run_sessions(data, [specs[0], *quick], sizes=(1,), cold_share=0.1)
    assert report.params["implicit_als"] in quick[0].grid
    assert 0.0 < report.models["implicit_als"]["ndcg@10"] <= 1.0
    # a cold item has no interaction to learn factors from: zero factors, all tie, last
    assert report.cold["implicit_als"]["hr@10"] == 0.0


def test_asking_for_implicit_als_without_implicit_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import convrec.evaluation.peers as peers
    from convrec.evaluation.specs import select_models

    monkeypatch.setattr(peers, "peers_installed", lambda: False)
    assert "implicit_als" not in [s.name for s in default_models("S")]
    with pytest.raises(ValueError, match=r"^implicit_als needs the implicit package: pip"):
        select_models("S", "implicit_als")
