"""Recommender: candidates, fusion of sources, filters, evidence and grounded explanations."""

import numpy as np
import pytest

from convrec import Recommender, RecommenderConfig, UnknownTitleError
from convrec.data import ItemInfo, UnknownIdError, build_dataset
from convrec.facts import FactChecker, Liked, Support, render
from convrec.schema import (
    Evidence,
    Explanation,
    FanRatings,
    ItemFilter,
    ItemSummary,
    RequestMatch,
    Standing,
)

TITLES = ["Alpha (1990)", "Beta (1991)", "Gamma (1992)", "Delta (1993)",
          "Omega (1980)", "Sigma (1981)", "Kappa (1982)", "Lambda (1983)"]  # fmt: skip
GENRES = [("Sci-Fi",)] * 4 + [("Comedy",)] * 4


def _data():
    """Two taste groups: users 0-9 watch items 0->1->2->3, users 10-19 watch 4->5->6->7.

    User 0 has only watched 0, 1, 2 (so 3 is the answer); user 10 only 4, 5, 6.
    """
    users, items, ratings, times = [], [], [], []
    for u in range(20):
        group = range(4) if u < 10 else range(4, 8)
        seq = list(group)[:3] if u in (0, 10) else list(group)
        for t, i in enumerate(seq):
            users.append(u)
            items.append(i)
            ratings.append(5.0 if u % 2 == 0 else 4.0)
            times.append(1000 * u + t)
    info = {
        str(i): ItemInfo(title=t.rsplit(" (", 1)[0], year=int(t[-5:-1]), genres=GENRES[i])
        for i, t in enumerate(TITLES)
    }
    return build_dataset(
        "toy",
        source="memory",
        user_ids=np.array(users),
        item_ids=np.array(items),
        rating=np.array(ratings),
        timestamp=np.array(times),
        lines=np.arange(1, len(users) + 1),
        item_info=info,
    )


@pytest.fixture(scope="module")
def rec():
    return Recommender.build(_data(), config=RecommenderConfig(n_candidates=8))


def test_known_user_gets_the_withheld_item_first_with_evidence(rec):
    out = rec.recommend(user=0, k=3)
    assert out.user == "0"
    assert out[0].item_id == "3" and out[0].title == "Delta (1993)"
    assert "cf" in out[0].components
    assert out[0].evidence and out[0].evidence[0].item_id in {"0", "1", "2"}
    assert out[0].evidence[0].user_rating == 5.0
    assert {i.item_id for i in out} & {"0", "1", "2"} == set()  # seen items excluded
    assert 1.0 <= out[0].predicted_rating <= 5.0


def test_session_from_liked_titles_and_fuzzy_matching(rec):
    out = rec.recommend(liked=["Omega", "sigma", "Kapa"], k=2)
    assert out.user is None and out.history == ("4", "5", "6")
    assert out[0].item_id == "7"
    with pytest.raises(UnknownTitleError, match="did you mean Alpha"):
        rec.recommend(liked=["Alpah"])
    with pytest.raises(UnknownTitleError, match="no item titled 'Zyzzyva'"):
        rec.recommend(liked=["Zyzzyva"])


def test_filters_and_exclusions(rec):
    only_comedy = rec.recommend(user=0, k=4, filters=ItemFilter(("Comedy",)))
    assert only_comedy.items and all(int(i.item_id) >= 4 for i in only_comedy)
    assert all(i.evidence == () for i in only_comedy)  # popular fill, no CF evidence
    assert "a comedy pick, as you asked" in only_comedy[0].explanation  # the request it meets
    assert any(isinstance(f, RequestMatch) for f in only_comedy[0].why.claims)
    early = rec.recommend(user=0, k=8, filters=ItemFilter(year_max=1985))
    assert all(int(i.item_id) >= 4 for i in early)
    out = rec.recommend(user=0, k=3, exclude=["Delta"])
    assert "3" not in {i.item_id for i in out}


def test_batch_equals_single_calls(rec):
    batch = rec.recommend_batch([{"user": 0}, {"user": 10}], k=2, explain=False)
    assert [i.item_id for i in batch[0]] == [i.item_id for i in rec.recommend(user=0, k=2)]
    assert batch[1][0].item_id == "7"


def test_llm_source_is_fused_and_recorded_in_components(index_llm):
    data = _data()
    config = RecommenderConfig(n_candidates=8, weights={"cf": 0.0, "llm": 1.0})
    rec = Recommender.build(data, config=config, llm=index_llm("You will like it: a comedy."))
    out = rec.recommend(user=10, k=3, filters=None)
    assert out[0].item_id == "7"
    assert set(out[0].components) == {"cf", "llm"}
    assert out[0].explanation == "You will like it: a comedy."
    assert out[0].explanation_source == "llm"
    vague = Recommender.build(data, config=config, llm=index_llm("You will like it."))
    assert vague.recommend(user=10, k=1)[0].explanation_source == "template"  # no fact stated


def test_llm_rescores_only_the_cf_best_llm_candidates(index_llm):
    data = _data()
    cf_only = Recommender.build(data, config=RecommenderConfig(n_candidates=8))
    pool = [i.item_id for i in cf_only.recommend(user=10, k=8, explain=False)]
    config = RecommenderConfig(n_candidates=8, weights={"cf": 0.0, "llm": 1.0}, llm_candidates=3)
    llm = index_llm()
    rec = Recommender.build(data, config=config, llm=llm)
    out = rec.recommend(user=10, k=8, explain=False)
    assert llm.widths == [3]  # one prompt per re-scored candidate, no more
    head = sorted(pool[:3], key=lambda i: -data.items.index(i))
    assert [i.item_id for i in out[:2]] == head[:2]  # the LLM's order among the CF best 3
    floor = min(i.components["llm"] for i in out if i.item_id in pool[:3])
    assert all(i.components["llm"] == floor for i in out if i.item_id not in pool[:3])
    with pytest.raises(ValueError, match="llm_candidates"):
        RecommenderConfig(llm_candidates=-1)


def test_ungrounded_llm_text_falls_back_to_the_template_and_is_counted(index_llm):
    data = _data()
    rec = Recommender.build(data, llm=index_llm("Because you loved Omega (1980)."))
    out = rec.recommend(user=0, k=1)
    assert out[0].item_id != "4"
    assert out[0].explanation_source == "template"  # user 0 never chose Omega
    assert "Omega" not in out[0].explanation
    assert rec.grounding.failed == rec.grounding.checked == 1
    assert rec.grounding.fallback_rate == 1.0


def test_lowercase_llm_text_is_checked_and_shown_with_catalogue_titles(index_llm):
    # An uncased model writes single-word titles in lower case: they are citations all the
    # same (user 0 never chose Omega), and grounded text shows the catalogue's titles.
    data = _data()
    rec = Recommender.build(data, llm=index_llm("because you loved omega."))
    assert rec.recommend(user=0, k=1)[0].explanation_source == "template"
    rec = Recommender.build(data, llm=index_llm("delta suits you: you chose alpha and beta."))
    out = rec.recommend(user=0, k=1)
    assert out[0].item_id == "3" and out[0].explanation_source == "llm"
    assert out[0].explanation == "Delta (1993) suits you: you chose Alpha (1990) and Beta (1991)."
    why = out[0].why  # the structured value: the words, and the history items they cite
    assert why is not None and why.text == out[0].explanation and why.source == "llm"
    assert why.predicted_rating is None and why.reason == why.text
    assert sorted(f.item_id for f in why.facts) == ["0", "1"]  # Delta itself is not a fact
    assert all(f.user_rating == 5.0 for f in why.facts)


def test_fact_check_rejects_misquoted_ratings_titles_genres_and_negatives(rec):
    check = FactChecker(rec.titles, rec.explainer.book)
    liked = Liked(np.array([0, 1], np.int32), np.array([5.0, 4.0], np.float32), 0)
    facts = rec.explainer.book.facts(liked, [3])[0]
    stand = next(f for f in facts if isinstance(f, Standing))  # 9 ratings, mean 4.44
    assert check.check("You rated Alpha 5/5 and liked Beta.", 3, liked, facts).ok
    assert not check.check("You rated Alpha 3/5.", 3, liked, facts).ok
    assert not check.check("You liked Omega.", 3, liked, facts).ok  # not a liked title
    assert not check.check("A comedy, like Alpha.", 3, liked, facts).ok  # Delta is sci-fi
    assert check.check("Sci-fi, like Alpha.", 3, liked, facts).ok
    assert check.check(f"{stand.mean:.1f}/5 from {stand.count} ratings.", 3, liked, facts).ok
    assert not check.check("4.9/5 from 9 ratings.", 3, liked, facts).ok
    assert not check.check("4.4/5 from 12 ratings.", 3, liked, facts).ok
    assert not check.check("Delta is not for you: you disliked Alpha.", 3, liked, facts).ok
    assert not check.check("Delta is an average match for your taste.", 3, liked, facts).ok
    assert not check.check("You liked Alpha and", 3, liked, facts).ok  # cut mid-phrase
    assert not check.check("", 3, liked, facts).ok
    count = f"Close to Alpha, which you rated {stand.count} people have rated it."
    assert not check.check(count, 3, liked, facts).ok  # "you rated" with no rating after it
    assert check.check("Close to Alpha (1990), which you rated 5/5.", 3, liked, facts).ok
    assert check.checked == 14 and check.failed == 10


def test_rendered_phrasings_vary_cite_facts_and_stay_positive():
    a = Evidence("1", "Alpha (1990)", 0.5, 5.0, 0.8)
    low = FanRatings(("1",), ("Alpha (1990)",), 4.0, 30, 2.1)  # argues against: never said
    high = Standing(4.26, 120, 3)
    used: set[str] = set()
    texts = [render(Support.of((a, low, high), 3.5), str(i), used) for i in range(6)]
    assert all(t is not None for t in texts)
    assert all("Alpha (1990)" in t[0] and "2.1" not in t[0] for t in texts)  # its mean unsaid
    assert len({t[0] for t in texts}) >= 2  # the phrasing varies by item id and list
    assert render(Support.of((a, high), 3.5), "7") == render(Support.of((a, high), 3.5), "7")
    general = render(Support.of((high, RequestMatch(("Comedy",))), 3.5), "1")
    assert (
        general is not None and "120" in general[0] and "a comedy pick, as you asked" in general[0]
    )
    assert render(Support.of((), 3.5), "1") is None


def test_single_item_calls(rec):
    assert 1.0 <= rec.predict_rating(0, "Delta") <= 5.0
    assert any(t in rec.explain(0, "Delta") for t in ("Alpha", "Beta", "Gamma"))  # user 0's
    similar = rec.similar_items("Alpha", k=2)
    assert {s.item_id for s in similar} <= {"1", "2", "3"}
    with pytest.raises(KeyError):
        rec.predict_rating("no-such-user", "Delta")
    with pytest.raises(ValueError, match="k must be"):
        rec.recommend(user=0, k=0)
    with pytest.raises(ValueError, match="give a user"):
        rec.recommend()


def test_save_pretrained_round_trip(rec, tmp_path):
    rec.save_pretrained(tmp_path / "rec")
    loaded = Recommender.from_pretrained(tmp_path / "rec")
    assert loaded.config == rec.config
    for kwargs in ({"user": 0}, {"user": 13}, {"liked": ["Omega"]}):
        a, b = rec.recommend(k=4, **kwargs), loaded.recommend(k=4, **kwargs)
        assert [(i.item_id, i.score, i.explanation) for i in a] == [
            (i.item_id, i.score, i.explanation) for i in b
        ]
    assert loaded.data.catalog.title == rec.data.catalog.title
    files = {p.name for p in (tmp_path / "rec").iterdir()}
    assert {"convrec_recommender.json", "dataset", "cf.npz", "rating.npz"} <= files


def test_the_recommenders_item_knn_is_the_native_top_50_cosine(rec, tmp_path):
    from convrec.cf.knn import ItemKNN
    from convrec.cf.sequential import item_cosine

    want = item_cosine(rec.data, rec.rows, 50)
    assert rec.neighbours.config.n_neighbours == 50 and rec.similarity is rec.neighbours.similarity_
    for got in (rec.similarity, ItemKNN(n_neighbours=50).fit(rec.data, rec.rows).similarity_):
        assert np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.indices, want.indices)
        assert got.data.tobytes() == want.data.tobytes()
    rec.save_pretrained(tmp_path / "rec")
    loaded = Recommender.from_pretrained(tmp_path / "rec")
    histories = loaded.neighbours.user_items_[:5]
    a, _ = rec.neighbours.recommend(histories, k=5)
    b, _ = loaded.neighbours.recommend(histories, k=5)
    assert a.tolist() == b.tolist() and loaded.similarity.data.tobytes() == want.data.tobytes()


def test_sequential_linear_candidates_round_trip(tmp_path):
    config = RecommenderConfig(n_candidates=8, cf={"model": "SequentialLinear", "l2": 1.0})
    rec = Recommender.build(_data(), config=config)
    assert type(rec.cf).__name__ == "SequentialLinear" and rec.cf.l2 == 1.0
    out = rec.recommend(user=0, k=3)
    assert out[0].item_id == "3"  # the withheld item still comes first
    rec.save_pretrained(tmp_path / "rec")
    loaded = Recommender.from_pretrained(tmp_path / "rec")
    assert type(loaded.cf).__name__ == "SequentialLinear" and loaded.config == config
    b = loaded.recommend(user=0, k=3)
    assert [(i.item_id, i.score) for i in out] == [(i.item_id, i.score) for i in b]
    with pytest.raises(ValueError, match="cf model must be one of"):
        RecommenderConfig(cf={"model": "SASRec"})


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(ValueError, match="not a saved recommender"):
        Recommender.from_pretrained(tmp_path)


def test_shipped_default_by_name():
    rec = Recommender.from_pretrained("ml-100k")
    assert rec.data.n_items == 1682
    assert len(rec.recommend(user=1, k=5)) == 5


FUSIONS_TESTED = [
    ("weighted", "zscore"),
    ("weighted", "minmax"),
    ("weighted", "none"),
    ("rrf", "zscore"),
]


@pytest.mark.parametrize(("method", "normalisation"), FUSIONS_TESTED)
def test_fusion_contributions_add_up_to_the_fused_scores(method, normalisation):
    from convrec.cf.fusion import fuse, fuse_with_shares
    from convrec.cf.oracle import fusion_contributions

    rng = np.random.default_rng(3)
    cand = np.stack([rng.permutation(20)[:12] for _ in range(4)]).astype(np.int32)
    cand[1, 9:] = -1  # padding
    sources = rng.normal(size=(3, 4, 12)).astype(np.float32)
    sources[1, 2, :5] = np.nan  # the second source did not score some candidates
    sources[2, 3] = np.nan  # nor did the third for a whole user
    weights = np.asarray([1.0, 0.5, 0.25], np.float32)
    ids, fused = fuse(cand, sources, weights, k=12, method=method, normalisation=normalisation)
    one_ids, one_fused, shares = fuse_with_shares(
        cand, sources, weights, k=12, method=method, normalisation=normalisation
    )
    assert np.array_equal(one_ids, ids) and one_fused.tobytes() == fused.tobytes()
    np.testing.assert_allclose(
        shares, fusion_contributions(cand, sources, weights, method, normalisation), atol=1e-6
    )
    for b in range(4):
        position = {int(i): j for j, i in enumerate(cand[b]) if i >= 0}
        for item, score in zip(ids[b], fused[b], strict=True):
            if item >= 0:
                assert np.nansum(shares[:, b, position[int(item)]]) == pytest.approx(
                    score, abs=1e-5
                )
    assert np.isnan(shares[:, 1, 9:]).all() and np.isnan(shares[1, 2, :5]).all()
    with pytest.raises(ValueError, match="weights"):
        fusion_contributions(cand, sources, [1.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="weights"):
        fuse_with_shares(cand, sources, [1.0, -1.0, 0.0])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("method", "normalisation"), FUSIONS_TESTED)
def test_one_fusion_pass_gives_the_native_ranking_bit_for_bit(seed, method, normalisation):
    """The Recommender's one fusion pass against the native kernel: same ids, same float32
    scores, on ties, large offsets, padding, missing scores and zero weights."""
    from convrec.cf.fusion import fuse, fuse_with_shares

    rng = np.random.default_rng(seed)
    for trial in range(40):
        b, c, s = int(rng.integers(1, 6)), int(rng.integers(1, 30)), int(rng.integers(1, 4))
        cand = np.stack([rng.permutation(c + 10)[:c] for _ in range(b)]).astype(np.int32)
        cand[rng.random((b, c)) < 0.15] = -1
        scale = (1.0, 1e3, 0.1)[trial % 3]
        sources = rng.normal(size=(s, b, c)) * scale + (0.0, 5e4, 0.0)[trial % 3]
        if trial % 4 == 1:
            sources = np.round(sources)  # many ties
        sources = sources.astype(np.float32)
        sources[rng.random((s, b, c)) < 0.2] = np.nan
        weights = rng.random(s).astype(np.float32)
        weights[rng.random(s) < 0.2] = 0.0
        k, rrf_k = int(rng.integers(1, c + 4)), float(rng.choice([0.0, 1.0, 60.0]))
        want = fuse(cand, sources, weights, k, method, normalisation, rrf_k)
        got = fuse_with_shares(cand, sources, weights, k, method, normalisation, rrf_k)
        assert np.array_equal(got[0], want[0])
        assert got[1].tobytes() == want[1].tobytes()


def test_alpha_sets_the_balance_between_cf_and_llm(index_llm):
    config = RecommenderConfig(n_candidates=8, weights={"cf": 1.0, "llm": 0.5})
    assert config.alpha == pytest.approx(2 / 3)
    assert config.fusion_weights(config.alpha) == pytest.approx(config.weights)
    assert config.fusion_weights(0.25) == pytest.approx({"cf": 0.375, "llm": 1.125})
    assert config.fusion_weights(None) == config.weights
    with pytest.raises(ValueError, match="alpha"):
        config.fusion_weights(1.5)
    rec = Recommender.build(_data(), config=config, llm=index_llm("You will like it."))
    cf_only = rec.recommend(user=0, k=3, alpha=1.0)
    llm_only = rec.recommend(user=0, k=3, alpha=0.0)
    assert cf_only[0].item_id == "3"  # the withheld item of user 0's taste group
    assert llm_only[0].item_id == "7"  # the index LLM prefers the highest index
    assert "llm" not in cf_only[0].components  # weight 0: the LLM is not even run
    assert llm_only[0].contributions["cf"] == 0.0 and llm_only[0].contributions["llm"] > 0
    mixed = rec.recommend(user=0, k=3, alpha=0.5)
    for item in mixed:
        assert set(item.contributions) == {"cf", "llm"}
        assert sum(item.contributions.values()) == pytest.approx(item.score, abs=1e-5)


def test_alpha_without_an_llm_changes_nothing(rec):
    a, b = rec.recommend(user=0, k=4, alpha=0.0), rec.recommend(user=0, k=4, alpha=1.0)
    assert [(i.item_id, i.score) for i in a] == [(i.item_id, i.score) for i in b]
    assert a[0].contributions == {"cf": pytest.approx(a[0].score)}


def predict_ratings(self, users, items):
    return np.full(len(users), 5.0, np.float32)


def test_with_fusion_sets_the_blend_and_from_pretrained_keeps_it(rec, tmp_path):
    fused = rec.with_fusion(0.3, "rrf", rating_alpha=0.4)
    # the CF + LLM total (1.5) is split 0.3 : 0.7; cbf keeps its weight
    assert fused.config.weights == pytest.approx({"cf": 0.45, "llm": 1.05, "cbf": 0.2})
    assert fused.config.alpha == pytest.approx(0.3)
    assert (fused.config.method, fused.config.fusion, fused.config.rating_alpha) == (
        "rrf",
        "rrf",
        0.4,
    )
    assert rec.config == RecommenderConfig(n_candidates=8)  # the original is untouched
    minmax = fused.with_fusion(fusion="minmax")
    assert (minmax.config.method, minmax.config.normalisation) == ("weighted", "minmax")
    fused.save_pretrained(tmp_path / "fused")
    loaded = Recommender.from_pretrained(tmp_path / "fused")
    assert loaded.config == fused.config
    a, b = fused.recommend(user=0, k=4), loaded.recommend(user=0, k=4)
    assert [(i.item_id, i.score) for i in a] == [(i.item_id, i.score) for i in b]
    with pytest.raises(ValueError, match="alpha"):
        rec.with_fusion(1.5)
    with pytest.raises(ValueError, match="fusion"):
        rec.with_fusion(fusion="mean")


def test_rating_blend_with_the_llm_and_a_knn_rating_model(tmp_path, index_llm):
    data = _data()
    config = RecommenderConfig(n_candidates=8, rating={"model": "KNNBaseline", "k": 5})
    rec = Recommender.build(data, config=config, llm=index_llm("x", rating=5.0))
    cf_only = rec.predict_rating(13, "Omega")
    assert rec.with_fusion(rating_alpha=0.0).predict_rating(13, "Omega") == 5.0
    half = rec.with_fusion(rating_alpha=0.5).predict_rating(13, "Omega")
    assert half == pytest.approx((cf_only + 5.0) / 2)
    out = rec.with_fusion(rating_alpha=0.0).recommend(user=13, k=2, explain=False)
    assert all(i.predicted_rating == 5.0 for i in out)
    session = rec.predict_rating(None, "Omega")  # no user: the item baseline, no LLM
    assert 1.0 <= session <= 5.0 and session != 5.0
    no_llm = Recommender.build(data, config=config)
    no_llm.save_pretrained(tmp_path / "knn")
    loaded = Recommender.from_pretrained(tmp_path / "knn")
    assert loaded.predict_rating(13, "Omega") == no_llm.predict_rating(13, "Omega") == cf_only


def test_rank_users_equals_recommend_batch(rec):
    ids, scores = rec.rank_users(np.array([0, 10], np.int32), k=3)
    batch = rec.recommend_batch([{"user": 0}, {"user": 10}], k=3, explain=False)
    for b, out in enumerate(batch):
        assert ids[b].tolist() == [int(i.item_id) for i in out]  # ids equal indices here
        assert scores[b].tolist() == pytest.approx([i.score for i in out])


def test_diversity_reranks_the_pool_by_mmr():
    rec = Recommender.from_pretrained("ml-100k")
    plain = rec.recommend(user=1, k=10, explain=False)
    assert [i.item_id for i in rec.recommend(user=1, k=10, diversity=0.0, explain=False)] == [
        i.item_id for i in plain
    ]
    diverse = rec.recommend(user=1, k=10, diversity=0.7, explain=False)
    assert diverse[0].item_id == plain[0].item_id  # MMR starts with the most relevant

    def mean_similarity(out):
        index = [rec.data.items.index(i.item_id) for i in out]
        pair = rec.similarity[index][:, index].toarray()
        return (pair.sum() - np.trace(pair)) / (len(index) * (len(index) - 1))

    assert mean_similarity(diverse) < mean_similarity(plain)
    assert {i.item_id for i in diverse} != {i.item_id for i in plain}


def test_explain_items_fills_what_recommend_would_have_written(rec):
    full = rec.recommend(user=0, k=4)
    bare = rec.recommend(user=0, k=4, explain=False)
    assert all(i.explanation is None for i in bare)
    filled = rec.explain_items(bare.items, user=0)
    assert [(i.item_id, i.explanation, i.explanation_source, i.support) for i in filled] == [
        (i.item_id, i.explanation, i.explanation_source, i.support) for i in full.items
    ]
    assert all(i.why and i.why.claims for i in rec.explain_items(bare.items[1:3], user=0))


def test_catalogue_user_and_item_queries(rec):
    assert rec.name == "toy" and rec.item_id(3) == "3" and rec.titles.exact("Delta") == 3
    with pytest.raises(IndexError):
        rec.item_id(8)
    assert rec.genres() == ("Comedy", "Sci-Fi") and rec.year_span() == (1980, 1993)
    # Delta: 9 ratings (users 1-9), four 5s and five 4s; six items have 10 ratings
    assert rec.item_info("Delta") == ItemSummary(
        "3", "Delta (1993)", 1993, ("Sci-Fi",), 9, pytest.approx(40 / 9), 7, False
    )
    assert rec.item_info("0").popularity_rank == 1
    assert rec.has_user("0") and rec.has_user(19) and not rec.has_user("20")
    assert rec.user_ids() == tuple(str(u) for u in range(20))
    assert rec.user_ratings("0") == [("0", 5.0), ("1", 5.0), ("2", 5.0)]
    with pytest.raises(UnknownIdError):
        rec.user_ratings("20")


def test_popular_items_follow_filters_and_exclusions(rec):
    comedy = ItemFilter(include_genres=("Comedy",))
    out = rec.popular_items(3, comedy, exclude=["Omega"])
    assert [(i.item_id, i.score) for i in out] == [("5", 10.0), ("6", 10.0), ("7", 9.0)]
    assert all(i.predicted_rating == rec.predict_rating(None, i.item_id) for i in out)
    for i in out:  # explained by their standing and the request they meet
        assert i.why is not None and i.why.source == "template" and i.why.facts == ()
        stand = [f for f in i.why.claims + i.support if isinstance(f, Standing)]
        assert stand and stand[0].count == i.score
        assert any(isinstance(f, RequestMatch) and f.genres == ("Comedy",) for f in i.support)
    assert [i.item_id for i in rec.popular_items(2)] == ["0", "1"]
    with pytest.raises(ValueError):
        rec.popular_items(0)


def test_item_similarity_is_the_similar_items_cosine(rec):
    sim = rec.item_similarity(["Alpha", "Omega"], ["Beta", "Sigma", "Gamma"])
    assert sim.shape == (2, 3) and sim.dtype == np.float32
    scores = {s.item_id: s.score for s in rec.similar_items("Alpha", k=7)}
    assert sim[0, 0] == pytest.approx(scores["1"]) and sim[0, 2] == pytest.approx(scores["2"])
    assert sim[0, 1] == 0.0 and sim[1, 1] > 0.0  # other taste group / same group


def test_why_is_the_structured_explain(rec):
    history = ["Alpha", "Beta", "Gamma"]
    why = rec.why(None, "Delta", history)
    assert isinstance(why, Explanation) and why.text == rec.explain(None, "Delta", history)
    assert why.source == "template" and why.facts
    assert {f.item_id for f in why.facts} <= {"0", "1", "2"}
    assert all(f.title in why.reason for f in why.facts)
    assert why.predicted_rating is not None and why.text.endswith("/5.")
    general = rec.why(10, "Delta")  # nothing of user 10's near it: its standing speaks
    assert general.facts == () and (
        "by 9 people" in general.reason or "9 ratings" in general.reason
    )
    assert general.claims == (Standing(pytest.approx(4.44), 9, 7),)


def test_one_list_is_explained_in_one_llm_call(index_llm):
    class CountingLLM(index_llm):
        def __init__(self):
            super().__init__()
            self.calls = []

        def explain(self, users, items):
            self.calls.append(("user", len(items)))
            return super().explain(users, items)

        def explain_for(self, histories, items):
            self.calls.append(("session", len(items)))
            return super().explain_for(histories, items)

    llm = CountingLLM()
    rec = Recommender.build(_data(), config=RecommenderConfig(n_candidates=8), llm=llm)
    assert len(rec.recommend(user=0, k=3)) == 3
    assert len(rec.recommend(liked=["Alpha", "Beta"], k=4)) == 4
    assert llm.calls == [("user", 3), ("session", 4)]  # one batched generation per list


def test_collector_paused_restores_the_collector():
    import gc

    from convrec.recommender.loading import collector_paused

    assert gc.isenabled()
    frozen = gc.get_freeze_count()  # a command run in this process may have frozen some
    try:
        with pytest.raises(KeyError), collector_paused():
            assert not gc.isenabled()
            raise KeyError("a failed load")
        assert gc.isenabled() and gc.get_freeze_count() == frozen
        with collector_paused(freeze=True):
            kept = [[] for _ in range(10)]
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(kept)
        gc.disable()
        with collector_paused():
            pass
        assert not gc.isenabled()  # off when it was off
    finally:
        gc.enable()
        gc.unfreeze()


def test_required_genres_must_all_be_present(rec):
    # the toy catalogue: items 0-3 Sci-Fi, 4-7 Comedy, none both
    one = rec.allowed(ItemFilter(require_genres=("Comedy",)))
    assert np.flatnonzero(one).tolist() == [4, 5, 6, 7]
    both = rec.allowed(ItemFilter(require_genres=("Comedy", "Sci-Fi")))
    assert not both.any()
    anyof = rec.allowed(ItemFilter(include_genres=("Comedy", "Sci-Fi")))
    assert anyof.all()  # include stays any-of
    assert rec.popular_items(3, ItemFilter(require_genres=("Comedy", "Sci-Fi"))) == []
    assert [i.item_id for i in rec.popular_items(2, ItemFilter(require_genres=("Comedy",)))] == [
        i.item_id for i in rec.popular_items(2, ItemFilter(include_genres=("Comedy",)))
    ]
    merged = ItemFilter(require_genres=("Comedy", "Sci-Fi")).merge(ItemFilter((), ("Sci-Fi",)))
    assert merged.require_genres == ("Comedy",)
