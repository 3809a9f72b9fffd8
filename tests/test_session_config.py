"""Sessions' own candidate model (item-kNN + popularity prior), the prior in the native top-k,
content candidates, and how a Recommender saves and loads them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from convrec.cf.scoring import score_topk
from convrec.cf.sequential import RecencyItemKNN, SequentialKNN
from convrec.recommender import Recommender, RecommenderConfig
from convrec.recommender.config import SESSION_CF
from convrec.recommender.profiles import recency

from .conftest import make_llm_data


def _dense_oracle(hist, nbr, prior, k, exclude=None, exclude_seen=False):
    """Top-k of ``hist @ nbr + prior`` by numpy, ties to the lower column, -1 / -inf past the
    finite scores."""
    dense = (hist @ nbr).toarray().astype(np.float32) + prior.astype(np.float32)
    if exclude_seen:
        dense[hist.nonzero()] = -np.inf
    if exclude is not None:
        dense[exclude.nonzero()] = -np.inf
    ids = np.lexsort((np.broadcast_to(np.arange(dense.shape[1]), dense.shape), -dense), axis=1)
    ids = ids[:, :k]
    top = np.take_along_axis(dense, ids, axis=1)
    return np.where(np.isfinite(top), ids, -1), top


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_prior_joins_the_native_top_k_as_the_dense_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    nbr = sp.random(n, n, density=0.08, random_state=seed, format="csr", dtype=np.float32)
    hist = sp.random(5, n, density=0.06, random_state=seed + 10, format="csr", dtype=np.float32)
    skip = sp.random(5, n, density=0.1, random_state=seed + 20, format="csr", dtype=np.float32)
    prior = (rng.random(n) * 0.4).astype(np.float32)
    ids, scores, ev, ev_w = score_topk(
        hist, nbr, 12, exclude_seen=True, exclude=skip, n_evidence=2, prior=prior
    )
    want_ids, want_scores = _dense_oracle(hist, nbr, prior, 12, skip, exclude_seen=True)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
    assert ev is not None and ev_w is not None
    for b in range(len(ids)):
        for j, item in enumerate(ids[b].tolist()):
            for h, w in zip(ev[b, j].tolist(), ev_w[b, j].tolist(), strict=True):
                if h < 0:
                    assert w == 0.0
                    continue  # an item no edge reaches scores its prior alone
                assert w == pytest.approx(hist[b, h] * nbr[h, item], rel=1e-5)


def test_a_bad_prior_is_a_clear_error() -> None:
    nbr = sp.identity(4, dtype=np.float32, format="csr")
    with pytest.raises(ValueError, match="prior must be 4 finite floats"):
        score_topk(nbr[:1], nbr, 2, prior=np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="prior must be 4 finite floats"):
        score_topk(nbr[:1], nbr, 2, prior=np.zeros(3))


def test_recency_item_knn_lifts_popular_items_by_its_prior() -> None:
    data = make_llm_data(n_users=40, n_items=30)
    rows = np.arange(data.n_interactions)
    counts = np.bincount(data.item, minlength=data.n_items)
    plain = RecencyItemKNN(k=5, tau=1.0).fit(data, rows)
    lifted = RecencyItemKNN(k=5, tau=1.0, popularity=0.5).fit(data, rows)
    assert not plain.prior_.any()
    np.testing.assert_allclose(lifted.prior_, 0.5 * counts / counts.max(), rtol=1e-6)
    np.testing.assert_allclose(
        lifted.score_items(np.arange(3)), plain.score_items(np.arange(3)) + lifted.prior_,
        rtol=1e-6,
    )  # fmt: skip


def test_the_activity_prior_counts_each_interaction_by_its_users_activity() -> None:
    from convrec.data import build_dataset

    # user 0 rated items 0, 1, 2; user 1 rated item 1; user 2 rated items 2 and 3
    user, item = np.array([0, 0, 0, 1, 2, 2]), np.array([0, 1, 2, 1, 2, 3])
    data = build_dataset(
        "toy", source="memory", user_ids=user, item_ids=item, rating=np.full(6, 5.0),
        timestamp=np.arange(6, dtype=np.int64), lines=np.arange(1, 7),
    )  # fmt: skip
    rows = np.arange(6)
    ids = [data.items.external.index(str(i)) for i in range(4)]
    for activity, counts in ((0.0, [1, 2, 2, 1]), (1.0, [3, 4, 5, 2]), (0.5, None)):
        prior = RecencyItemKNN(k=2, popularity=0.4, activity=activity).fit(data, rows).prior_
        if counts is None:  # users of 3, 1 and 2 interactions, square roots
            r3, r2 = np.sqrt(3.0), np.sqrt(2.0)
            counts = [r3, r3 + 1.0, r3 + r2, r2]
        want = 0.4 * np.asarray(counts, float) / max(counts)
        np.testing.assert_allclose(prior[ids], want, rtol=1e-6)
    assert SESSION_CF["activity"] == 1.0 and SESSION_CF["popularity"] == 0.2


def _session_scores(model, items: np.ndarray, tau: float, n_items: int) -> np.ndarray:
    hist = sp.csr_matrix((recency(len(items), tau), (np.zeros(len(items)), items)), (1, n_items))
    scores = model.score_items(hist)[0]
    scores[items] = -np.inf
    return scores


def test_sessions_are_ranked_by_the_session_model_known_users_by_cf() -> None:
    data = make_llm_data(n_users=40, n_items=30)
    config = RecommenderConfig(weights={"cf": 1.0}, n_candidates=30, n_evidence=0)
    rec = Recommender.build(data, config=config)
    assert isinstance(rec.session_cf, RecencyItemKNN) and isinstance(rec.cf, SequentialKNN)
    assert rec.session_cf.params() == {**{k: v for k, v in SESSION_CF.items() if k != "model"},
                                       "ties": "simultaneous"}  # fmt: skip
    session = np.array([3, 11, 17], np.int32)
    ids, _ = rec.rank_sessions([session], k=8)
    want = _session_scores(rec.session_cf, session, SESSION_CF["tau"], data.n_items)
    order = np.lexsort((np.arange(data.n_items), -want))[:8]
    np.testing.assert_array_equal(ids[0], order)
    # without a session model sessions go through the known users' model, weighed by tau
    other = rec.with_fusion()
    other.config = dataclasses.replace(config, session_cf=None)
    assert other.session_cf is None
    ids, _ = other.rank_sessions([session], k=8)
    want = _session_scores(rec.cf, session, config.tau, data.n_items)
    reached = np.flatnonzero(np.isfinite(want) & (want > 0))
    top = reached[np.lexsort((reached, -want[reached]))][:8]
    np.testing.assert_array_equal(ids[0][: len(top)], top)


def test_a_new_session_spec_refits_and_the_same_one_is_kept() -> None:
    data = make_llm_data(n_users=30, n_items=25)
    rec = Recommender.build(data)
    held = rec.session_cf
    assert rec.with_fusion(0.5).session_cf is held
    spec = {**SESSION_CF, "popularity": 0.0}
    rec.config = dataclasses.replace(rec.config, session_cf=spec)
    assert rec.session_cf is not held and rec.session_cf.popularity == 0.0
    with pytest.raises(ValueError, match="session_cf model must be one of"):
        RecommenderConfig(session_cf={"model": "Nope"})
    with pytest.raises(ValueError, match="cbf_candidates must be >= 0"):
        RecommenderConfig(cbf_candidates=-1)


def test_the_session_model_is_saved_and_old_directories_keep_cf(tmp_path: Path) -> None:
    data = make_llm_data(n_users=30, n_items=25)
    rec = Recommender.build(data)
    saved = rec.save_pretrained(tmp_path / "rec")
    loaded = Recommender.from_pretrained(saved)
    assert isinstance(loaded.session_cf, RecencyItemKNN)
    np.testing.assert_array_equal(loaded.session_cf.prior_, rec.session_cf.prior_)
    liked = [data.items.external[i] for i in (2, 9)]
    before = [i.item_id for i in rec.recommend(history=liked, k=6, explain=False)]
    assert [i.item_id for i in loaded.recommend(history=liked, k=6, explain=False)] == before
    manifest = saved / "convrec_recommender.json"
    payload = json.loads(manifest.read_text())
    payload["parts"].remove("session_cf")
    payload["config"].pop("session_cf")
    manifest.write_text(json.dumps(payload))
    old = Recommender.from_pretrained(saved)
    assert old.session_cf is None and old.config.session_cf is None


class GivenContent:
    """A content source whose scores are given: every item scores ``scores`` for any history
    (enough to see which items the ranker lets in)."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, np.float32)

    def score_history(self, item_ids, weights=None) -> np.ndarray:
        return self.scores.copy()


def test_content_proposes_items_nobody_has_chosen() -> None:
    data = make_llm_data(n_users=40, n_items=30)
    cold = 29
    rows = np.flatnonzero(data.item != cold)  # item 29 has no interaction left
    content = np.zeros(data.n_items, np.float32)
    content[cold] = 1.0
    config = RecommenderConfig(weights={"cf": 1.0, "cbf": 1.0}, n_candidates=10)
    rec = Recommender.build(data, rows, config, cbf=GivenContent(content))
    assert rec.popularity[cold] == 0
    liked = [data.items.external[i] for i in (1, 4)]
    listed = [i.item_id for i in rec.recommend(history=liked, k=5, explain=False)]
    assert data.items.external[cold] in listed
    item = next(i for i in rec.recommend(history=liked, k=5) if i.item_id == str(cold))
    assert item.components["cbf"] == pytest.approx(1.0) and item.explanation
    rec.config = dataclasses.replace(config, cbf_candidates=0)
    listed = [i.item_id for i in rec.recommend(history=liked, k=5, explain=False)]
    assert data.items.external[cold] not in listed


def test_the_fused_grid_asks_the_llm_about_each_session_once(index_llm) -> None:
    from convrec.evaluation.fused import CachedLLM

    llm = index_llm()
    cached = CachedLLM(llm)
    histories = [(np.array([3, 1], np.int32), np.array([5.0, 5.0], np.float32))]
    cands = np.array([[4, 7, 9]], np.int32)
    first = cached.score_candidates_for(histories, cands)
    again = cached.score_candidates_for([(h.copy(), r.copy()) for h, r in histories], cands.copy())
    np.testing.assert_array_equal(first, again)
    assert llm.widths == [3]  # one call
    other = [(np.array([3], np.int32), np.array([5.0], np.float32))]
    cached.score_candidates_for(other, cands)
    assert llm.widths == [3, 3]  # another session: asked again


def test_when_cf_knows_nothing_content_picks_the_pool() -> None:
    """A request that leaves only items nobody has chosen (here: every warm item blocked):
    CF ties them all at zero, so content, not index order, decides which reach the pool."""
    data = make_llm_data(n_users=40, n_items=30)
    cold = np.arange(20, 30)
    rows = np.flatnonzero(data.item < 20)
    content = np.zeros(data.n_items, np.float32)
    content[cold] = np.linspace(0.1, 1.0, len(cold))  # item 29 first, then 28, ...
    config = RecommenderConfig(weights={"cf": 1.0, "cbf": 1.0}, n_candidates=4, cbf_candidates=1)
    rec = Recommender.build(data, rows, config, cbf=GivenContent(content))
    session = np.array([1, 4], np.int32)
    warm = np.setdiff1d(np.arange(20), session).astype(np.int32)
    ids, _ = rec.rank_sessions([session], blocked=[warm])
    assert ids[0].tolist() == [29, 28, 27, 26]
    # a session with CF evidence keeps its CF candidates; content has the last slot only
    both, _ = rec.rank_sessions([session])
    assert 29 in both[0].tolist() and len(set(both[0].tolist()) & set(range(20))) == 3
    # without content candidates the engine's tie order fills the pool
    rec.config = dataclasses.replace(config, cbf_candidates=0)
    ids, _ = rec.rank_sessions([session], blocked=[warm])
    assert sorted(ids[0].tolist()) == [20, 21, 22, 23]
    with pytest.raises(ValueError, match="2 blocked lists for 1 sessions"):
        rec.rank_sessions([session], blocked=[warm, warm])
