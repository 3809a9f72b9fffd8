"""Protocol splits, reference numbers from PROTOCOL.md, the runner and its JSON report."""

import json
from pathlib import Path

import numpy as np
import pytest

from convrec.cf.baselines import BiasBaseline, GlobalMean, MostPopular
from convrec.data import build_dataset, load_dataset
from convrec.evaluation import ModelSpec, reference_models, run_protocol
from convrec.evaluation.splits import Split, fingerprint, leave_last_out_split, random_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FINGERPRINTS = SHARED / "protocol" / "ml100k-fingerprints.json"


@pytest.fixture(scope="module")
def ml100k():
    return load_dataset("ml-100k")


def test_protocol_a_permutation_head(ml100k):
    assert random_split(ml100k).train[:5].tolist() == [18836, 43996, 91795, 93254, 38314]


def test_ml100k_splits_match_the_published_fingerprints(ml100k):
    if not FINGERPRINTS.exists():
        pytest.skip(f"fingerprints not found at {FINGERPRINTS} (the shared folder is absent)")
    expected = json.loads(FINGERPRINTS.read_text())
    a, b = random_split(ml100k), leave_last_out_split(ml100k)
    for name, rows in {
        "A_train": a.train, "A_valid": a.valid, "A_test": a.test,
        "B_train": b.train, "B_valid": b.valid, "B_test": b.test,
    }.items():  # fmt: skip
        assert fingerprint(ml100k, rows) == expected[name], name


def test_reference_numbers_equal_protocol_md(ml100k):
    a = run_protocol(ml100k, "A", reference_models("A"))
    assert round(a.models["global_mean"]["rmse"], 4) == 1.1294
    assert round(a.models["global_mean"]["mae"], 4) == 0.9465
    assert round(a.models["bias_baseline"]["rmse"], 4) == 0.9439
    assert round(a.models["bias_baseline"]["mae"], 4) == 0.7474
    b = run_protocol(ml100k, "B", reference_models("B"))
    assert set(b.models) == {"most_popular"}
    expected = {"hr@5": 0.0339, "hr@10": 0.0498, "ndcg@5": 0.0200, "ndcg@10": 0.0250}
    assert {k: round(v, 4) for k, v in b.models["most_popular"].items()} == expected


def _tiny():
    """4 users x 4 items: user u rated item (u + k) % 4 at time k, rating 1 + (u + k) % 5."""
    users, items, ratings, times = [], [], [], []
    for u in range(4):
        for k in range(3):
            users.append(str(u))
            items.append(f"i{(u + k) % 4}")
            ratings.append(1 + (u + k) % 5)
            times.append(100 * k + u)
    return build_dataset(
        "tiny",
        source="memory",
        user_ids=np.array(users),
        item_ids=np.array(items),
        rating=np.array(ratings, float),
        timestamp=np.array(times),
        lines=np.arange(1, len(users) + 1),
    )


def test_leave_last_out_takes_the_latest_two_per_user():
    data = _tiny()
    split = leave_last_out_split(data)
    assert len(split.test) == len(split.valid) == 4
    assert np.all(data.timestamp[split.test] >= 200)
    assert np.all((data.timestamp[split.valid] >= 100) & (data.timestamp[split.valid] < 200))
    assert sorted(np.concatenate([split.train, split.valid, split.test]).tolist()) == list(
        range(12)
    )


def test_grid_search_picks_on_valid_and_reports_params(tmp_path):
    data = _tiny()
    spec = ModelSpec("bias", BiasBaseline, grid=[{"reg_item": 0.0}, {"reg_item": 1e6}])
    report = run_protocol(data, "A", [spec, ModelSpec("gm", GlobalMean)])
    assert set(report.models) == {"bias", "gm"}
    assert set(report.models["bias"]) == {"rmse", "mae"}
    assert report.params["bias"]["reg_item"] in (0.0, 1e6)
    report.write_json(tmp_path / "r.json")
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["protocol"] == "A" and payload["data"] == "tiny"
    assert payload["models"]["gm"]["rmse"] == pytest.approx(report.models["gm"]["rmse"])
    assert "bias" in report.table()


def test_ranking_runner_uses_only_models_that_score_items():
    report = run_protocol(
        _tiny(), "B", [ModelSpec("pop", MostPopular), ModelSpec("gm", GlobalMean)]
    )
    assert list(report.models) == ["pop"]
    assert 0.0 <= report.models["pop"]["ndcg@10"] <= 1.0


def test_protocol_c_needs_summaries():
    with pytest.raises(ValueError, match="review summaries"):
        run_protocol(_tiny(), "C", reference_models("C"))
    with pytest.raises(ValueError, match="unknown protocol"):
        run_protocol(_tiny(), "Z", [])


class _BadShape:
    def fit(self, data, rows):
        return self

    def predict_ratings(self, users, items):
        return np.zeros(3)


def test_model_returning_a_wrong_shape_gets_a_clear_error():
    with pytest.raises(ValueError, match="predict_ratings returned shape"):
        run_protocol(_tiny(), "A", [ModelSpec("bad", _BadShape)])


MI5 = SHARED / "data" / "amazon-mi5" / "reviews_Musical_Instruments_5.json.gz"


def test_protocol_c_runs_on_amazon_reviews_with_both_floors():
    if not MI5.exists():
        pytest.skip(f"Amazon MI5 reviews not found at {MI5} (the shared folder is absent)")
    data = load_dataset(MI5)
    report = run_protocol(data, "C", reference_models("C"))
    assert report.split["random"] == {"train": 8209, "valid": 1026, "test": 1026}
    assert report.split["leave_last_out"]["test"] == data.n_users
    assert report.models["bias_baseline"]["rmse"] < report.models["global_mean"]["rmse"]
    constant = report.models["constant_sentence"]
    retrieval = report.models["same_item_retrieval"]
    assert constant["usr"] == pytest.approx(1 / 1026)
    assert retrieval["usr"] > 0.3
    assert retrieval["rougeL"] > 0.0 and constant["rougeL"] > 0.0
    assert set(report.models["most_popular"]) == {"hr@5", "hr@10", "ndcg@5", "ndcg@10"}


def test_ranking_protocols_report_the_diversity_block(tmp_path):
    report = run_protocol(_tiny(), "B", [ModelSpec("pop", MostPopular)])
    assert set(report.models["pop"]) == {"hr@5", "hr@10", "ndcg@5", "ndcg@10"}
    spread = report.diversity["pop"]
    assert set(spread) == {"ild@10", "coverage@10", "pop@10", "pop_norm@10"}
    # 4 users with 2 unseen items each (test item + 1), both recommended: all 4 items covered
    assert spread["coverage@10"] == 1.0
    assert report.diversity_features == "co-occurrence"  # _tiny has no genres
    assert "diversity and popularity" in report.table()
    report.write_json(tmp_path / "b.json")
    payload = json.loads((tmp_path / "b.json").read_text())
    assert payload["diversity"]["pop"] == pytest.approx(spread)
    assert "diversity" not in run_protocol(_tiny(), "A", [ModelSpec("gm", GlobalMean)]).to_json()


def test_a_sample_cuts_valid_and_test_but_not_the_final_fit():
    from convrec.evaluation.protocols import _sampled

    split = Split("random", np.arange(10), np.arange(10, 20), np.arange(20, 30))
    cut = _sampled(split, 3)
    assert len(cut.valid) == len(cut.test) == 3
    assert set(cut.valid) < set(split.valid) and set(cut.test) < set(split.test)
    assert sorted(cut.part("train+valid")) == sorted(split.part("train+valid"))


class _TwoTasks:
    """Rates everything ``rating`` and ranks items by index times ``sign``: its best rating
    and best ranking grid points differ."""

    def __init__(self, rating=4.0, sign=1.0):
        self.rating, self.sign = rating, sign

    def fit(self, data, rows):
        self.mean, self.n_items = float(data.rating[rows].mean()), data.n_items
        return self

    def predict_ratings(self, users, items):
        return np.full(len(users), self.rating)

    def score_items(self, users):
        return np.tile(self.sign * np.arange(self.n_items, dtype=np.float32), (len(users), 1))


def test_protocol_c_keeps_the_rating_choice_beside_the_ranking_one(llm_data):
    grid = [{"rating": r, "sign": s} for r in (1.0, float(np.median(llm_data.rating)))
            for s in (1.0, -1.0)]  # fmt: skip
    report = run_protocol(llm_data, "C", [ModelSpec("two", _TwoTasks, grid=grid)])
    params = report.params["two"]
    assert params["rating_rating"] == grid[-1]["rating"]  # the rating task's own choice
    assert params["rating"] == 1.0  # the ranking task's (ratings do not change its scores)
