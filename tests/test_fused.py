"""The fused CF + LLM model end to end on tiny data: alpha extremes, save / load, convrec eval."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")

from convrec import Recommender  # noqa: E402
from convrec.cf.rating import Blend  # noqa: E402
from convrec.cf.seqlinear import SequentialLinear  # noqa: E402
from convrec.evaluation.fused import AdapterLoader, FusedModel, SharedParts  # noqa: E402
from convrec.evaluation.splits import leave_last_out_split, random_split  # noqa: E402
from convrec.llm.backbone import BackboneConfig  # noqa: E402
from convrec.recommender.neighbours import item_neighbours  # noqa: E402
from convrec.training.train import TrainConfig, train  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
C = 10


@pytest.fixture(scope="module")
def adapter(llm_data, tiny_t5_dir, tmp_path_factory):
    """A tiny T5 adapter trained for a few steps on every task."""
    out = tmp_path_factory.mktemp("fused") / "adapter"
    config = TrainConfig(
        max_steps=6, eval_every=0, save_every=0, batch_size=8, lr=3e-3, warmup_steps=2,
        max_source_length=128, n_candidates=C,
    )  # fmt: skip
    torch.manual_seed(0)
    train(llm_data, out, config, BackboneConfig(str(tiny_t5_dir), lora_r=4), quiet=True)
    return out


@pytest.fixture(scope="module")
def shared(adapter):
    return SharedParts(AdapterLoader(adapter), candidates=C)


def test_alpha_one_is_cf_and_alpha_zero_is_the_llm_ranking(llm_data, shared):
    split = leave_last_out_split(llm_data)
    users = np.arange(llm_data.n_users, dtype=np.int32)
    cf_only = FusedModel(shared, alpha=1.0).fit(llm_data, split.train).recommender
    llm_only = FusedModel(shared, alpha=0.0).fit(llm_data, split.train).recommender
    pool, _ = cf_only.rank_users(users)
    # alpha = 1: the SequentialLinear ranking (its reached items; popular items pad the pool)
    seq = SequentialLinear().fit(llm_data, split.train)
    reached, _ = seq.recommend(users, k=C)
    for b in range(len(users)):
        n = int((reached[b] >= 0).sum())
        assert pool[b, :n].tolist() == reached[b, :n].tolist()
    # alpha = 0: the same pool in the LLM's order (score desc, ties to the lower id)
    scores = shared.recommender(llm_data, split.train).llm.score_candidates(users, pool)
    ids, _ = llm_only.rank_users(users)
    for b in range(len(users)):
        order = np.lexsort((pool[b], -scores[b]))
        assert ids[b].tolist() == pool[b, order].tolist()
    # the evaluation's full-catalogue scores keep that order and are -inf off the pool
    full = FusedModel(shared, alpha=0.0).fit(llm_data, split.train).score_items(users[:3])
    assert np.isfinite(full).sum(axis=1).tolist() == [C, C, C]
    assert np.argmax(full[0]) == ids[0, 0]


def test_alpha_extremes_of_the_rating_blend(llm_data, shared):
    split = random_split(llm_data)
    u, i = llm_data.user[split.test], llm_data.item[split.test]
    cf = FusedModel(shared, alpha=1.0).fit(llm_data, split.train)
    llm = FusedModel(shared, alpha=0.0).fit(llm_data, split.train)
    half = FusedModel(shared, alpha=0.5).fit(llm_data, split.train)
    knn = Blend().fit(llm_data, split.train).predict_ratings(u, i)  # cf_blend
    np.testing.assert_allclose(cf.predict_ratings(u, i), np.clip(knn, 1, 5))
    expected = shared.recommender(llm_data, split.train).llm.model.predict_ratings(u, i)
    np.testing.assert_allclose(llm.predict_ratings(u, i), np.clip(expected, 1, 5), rtol=1e-6)
    np.testing.assert_allclose(
        half.predict_ratings(u, i), np.clip(0.5 * knn + 0.5 * expected, 1, 5), rtol=1e-6
    )


def test_the_chosen_fusion_survives_save_pretrained(llm_data, shared, tmp_path):
    split = leave_last_out_split(llm_data)
    model = FusedModel(shared, alpha=0.3, fusion="minmax").fit(llm_data, split.train)
    rec = model.recommender
    rec.save_pretrained(tmp_path / "rec")
    loaded = Recommender.from_pretrained(tmp_path / "rec")
    assert loaded.config == rec.config
    assert loaded.config.weights == {"cf": 0.3, "llm": pytest.approx(0.7)}
    assert (loaded.config.normalisation, loaded.config.rating_alpha) == ("minmax", 0.3)
    users = np.arange(8, dtype=np.int32)
    a, sa = rec.rank_users(users, k=5)
    b, sb = loaded.rank_users(users, k=5)
    assert a.tolist() == b.tolist()
    np.testing.assert_allclose(sa, sb, rtol=1e-4, atol=1e-5)


def test_the_llm_reads_the_recommenders_own_item_knn(llm_data, shared, adapter, tmp_path):
    """One neighbour matrix per recommender: built, with an adapter, and saved and loaded."""
    split = leave_last_out_split(llm_data)
    fused = shared.recommender(llm_data, split.train)
    assert fused.llm.model.builder.neighbours is fused.neighbours
    rec = Recommender.build(llm_data, split.train).with_adapter(adapter)
    assert rec.llm.builder.neighbours is rec.neighbours
    assert rec.llm.builder.neighbours.similarity_ is rec.similarity
    rec.save_pretrained(tmp_path / "rec")
    loaded = Recommender.from_pretrained(tmp_path / "rec")
    assert loaded.llm.builder.neighbours is loaded.neighbours
    assert (loaded.similarity != rec.similarity).nnz == 0
    users = np.arange(6, dtype=np.int32)
    assert loaded.llm.cf_candidates(users).tolist() == rec.llm.cf_candidates(users).tolist()


def test_convrec_eval_scores_fused_beside_cf_and_llm(ratings_csv, adapter, tmp_path, capsys):
    from convrec.cli import main

    data = ["--data", str(ratings_csv), "--columns", "user=u,item=i,rating=r,timestamp=t"]
    js = tmp_path / "eval.json"
    ev = ["eval", *data, "--adapter", str(adapter), "--json", str(js), "--candidates", str(C)]
    assert main([*ev, "--protocol", "B", "--models", "cf_seqknn,llm,fused", "--mmr", "0.5"]) == 0
    payload = json.loads(js.read_text())
    names = {"cf_seqknn", "cf_seqknn+mmr0.5", "llm", "fused", "fused+mmr0.5"}
    assert set(payload["models"]) == names == set(payload["diversity"])
    params = payload["params"]["fused"]
    assert params["alpha"] in [round(0.1 * a, 1) for a in range(11)]
    assert params["fusion"] in ("zscore", "minmax", "rrf") and params["candidates"] == C
    assert 0 <= payload["models"]["fused"]["ndcg@10"] <= 1
    assert payload["diversity_features"] == "co-occurrence"  # a CSV has no genres
    assert 0 < payload["diversity"]["fused"]["coverage@10"] <= 1
    out = capsys.readouterr().out
    assert "diversity and popularity" in out and "fused+mmr0.5" in out

    assert main([*ev, "--protocol", "A", "--models", "cf_knn_item,llm,fused", "--limit", "20"]) == 0
    payload = json.loads(js.read_text())
    assert {"cf_knn_item", "llm", "fused"} == set(payload["models"])
    assert payload["params"]["fused"]["sample"] == 20 and "alpha" in payload["params"]["fused"]
    assert 0 < payload["models"]["fused"]["rmse"] < 5 and "diversity" not in payload
    assert "sample" not in payload["params"]["cf_knn_item"]  # the references see every row
    assert main([*ev, "--protocol", "A", "--models", "cf_knn_item", "--limit", "20",
                 "--limit-all"]) == 0  # fmt: skip
    assert json.loads(js.read_text())["params"]["cf_knn_item"]["sample"] == 20


def test_fused_without_an_adapter_is_skipped_with_a_reason(ratings_csv, capsys):
    from convrec.cli import main

    data = ["--data", str(ratings_csv), "--columns", "user=u,item=i,rating=r,timestamp=t"]
    assert main(["eval", *data, "--protocol", "B", "--models", "most_popular,fused"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("fused: skipped, it needs --adapter DIR") == 1
    assert "most_popular" in captured.out and "fused" not in captured.out
    assert main(["eval", *data, "--protocol", "B", "--models", "fused"]) == 2
    assert "--adapter" in capsys.readouterr().err


def test_a_new_session_gets_real_llm_scores_and_checked_explanations(llm_data, shared):
    """The real tiny LLM scores and explains a session known only by its liked titles."""
    split = leave_last_out_split(llm_data)
    rec = FusedModel(shared, alpha=0.5).fit(llm_data, split.train).recommender
    rec = rec.with_fusion(0.5)
    liked = [llm_data.catalog.title[2], llm_data.catalog.title[5]]
    out = rec.recommend(liked=liked, k=4, explain=True)
    assert len(out) == 4 and all("llm" in i.components for i in out)
    assert all(np.isfinite(i.components["llm"]) for i in out)
    checked = rec.grounding.checked
    assert checked >= 4 and all(i.explanation for i in out)
    assert {i.explanation_source for i in out} <= {"llm", "template"}
    # the session's LLM scores are those of prompts built from the liked items
    llm = shared.recommender(llm_data, split.train).llm.model
    cand = np.array([[rec.data.items.index(i.item_id) for i in out]], np.int32)
    top = float(llm_data.rating.max())
    history = (np.array([5, 2], np.int32), np.full(2, top, np.float32))
    expected = llm.score_candidates_for([history], cand)[0]
    np.testing.assert_allclose([i.components["llm"] for i in out], expected, rtol=1e-5)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_sessions_rank_the_same_without_the_known_user_models(llm_data, adapter, alpha):
    """Protocol S's shared parts skip cf_seqlinear and cf_blend (sessions never use them):
    the same session lists and scores as with them."""
    from convrec.evaluation.sessions import build_sessions, session_scores, user_split

    split = user_split(llm_data)
    sessions = build_sessions(llm_data, split.valid_users, 1)
    scores = []
    for only in (False, True):
        parts = SharedParts(AdapterLoader(adapter), C, llm_candidates=4, sessions_only=only)
        assert parts.config.cf["model"] == ("RecencyItemKNN" if only else "SequentialLinear")
        model = FusedModel(parts, alpha=alpha).fit(llm_data, split.train)
        scores.append(session_scores(model, llm_data, sessions))
    assert len(sessions.users) >= 2 and np.isfinite(scores[0]).any(axis=1).all()
    np.testing.assert_array_equal(scores[0], scores[1])


def test_protocol_s_with_an_adapter_reports_pools_and_llm_scored_cold_items(llm_data, adapter):
    from convrec.evaluation.sessions import cold_items, run_sessions
    from convrec.evaluation.specs import session_adapter_specs

    specs = session_adapter_specs(AdapterLoader(adapter), candidates=C)
    (report,) = run_sessions(llm_data, specs, sizes=(1,), cold_share=0.2)
    payload = report.to_json()
    assert set(payload["headroom"]) == {"llm", "fused_no_llm", "fused"}
    # the adapter trained on every user of this data set (no --split S): flagged
    assert set(payload["caveats"]) == {"llm", "fused"}
    # what the LLM adds: fused against the same lists without it, paired
    added = payload["paired"]["fused"]["each"]["fused_no_llm"]
    assert added["ndcg@10_diff"] == pytest.approx(
        payload["models"]["fused"]["ndcg@10"] - payload["models"]["fused_no_llm"]["ndcg@10"]
    )
    for name, room in payload["headroom"].items():
        assert 0.0 < room["pool_recall"] <= 1.0
        assert room["pool_random_ndcg@10"] <= room["pool_oracle_ndcg@10"]
        assert room["hindsight_ndcg@10"] >= payload["models"][name]["ndcg@10"] - 1e-9
    paired = payload["paired"]["fused"]
    assert paired["ndcg@10_diff"] == pytest.approx(
        payload["models"]["fused"]["ndcg@10"] - payload["models"][paired["vs"]]["ndcg@10"]
    )
    # cold items: only they are candidates, content picks the pool and the LLM scores it
    assert {"random", "llm", "fused"} <= set(payload["cold"])
    cold = set(cold_items(llm_data, 0, 0.2).tolist())
    asked = [
        set(np.frombuffer(key[2], np.int32).tolist()) - {-1}
        for rec in specs[0].factory().shared._fitted.values()
        for key in rec.llm._memo
        if key[0] == "sessions"
    ]
    assert any(items and items <= cold for items in asked)


def test_convrec_recommend_with_an_adapter_fuses_the_llm(ratings_csv, adapter, capsys):
    from convrec.cli import main

    data = ["--data", str(ratings_csv), "--columns", "user=u,item=i,rating=r,timestamp=t"]
    cmd = ["recommend", *data, "--user", "0", "-k", "3", "--explain", "--json"]
    assert main([*cmd, "--adapter", str(adapter)]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert len(items) == 3 and all({"cf", "llm"} <= set(i["components"]) for i in items)
    assert all(i["explanation"] for i in items)
    assert main(cmd) == 0  # without one: CF alone
    items = json.loads(capsys.readouterr().out)["items"]
    assert all("llm" not in i["components"] for i in items)
    assert main([*cmd, "--adapter", str(ratings_csv.parent)]) == 2
    assert "not an adapter directory" in capsys.readouterr().err


def test_export_halves_the_adapter_and_keeps_its_scores(llm_data, adapter, tmp_path):
    from safetensors.torch import load_file

    from convrec.llm.model import LLMModel
    from convrec.llm.shipped import ShippedFusion, export_adapter, shipped_fusion

    fusion = ShippedFusion(0.7, "minmax", 0.6, 5)
    out = export_adapter(adapter, tmp_path / "fp16", fusion=fusion)
    weights = "adapter_model.safetensors"
    assert (out / weights).stat().st_size < 0.6 * (adapter / weights).stat().st_size
    assert {t.dtype for t in load_file(out / weights).values()} == {torch.float16}
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "convrec_config.json"
    ]  # fmt: skip
    rows = random_split(llm_data).train
    users, items = llm_data.user[:16], llm_data.item[:16]
    ratings = [
        LLMModel.from_pretrained(d)
        .fit(llm_data, rows, item_neighbours(llm_data, rows))
        .predict_ratings(users, items)
        for d in (adapter, out)
    ]
    np.testing.assert_allclose(ratings[0], ratings[1], atol=2e-2)
    assert shipped_fusion(out) == fusion and shipped_fusion(adapter) is None
    (out / "README.md").write_text("# model card\n", encoding="utf-8")
    again = export_adapter(adapter, out, fusion=fusion)  # a re-export keeps the model card
    assert (again / "README.md").read_text(encoding="utf-8") == "# model card\n"
    assert shipped_fusion(again) == fusion
    with pytest.raises(FileNotFoundError, match="not an adapter directory"):
        export_adapter(tmp_path, tmp_path / "x")
    with pytest.raises(ValueError, match="dtype must be"):
        export_adapter(adapter, tmp_path / "x", dtype="int8")
    with pytest.raises(ValueError, match="alpha must be in"):
        ShippedFusion(alpha=1.5)


def test_a_shipped_adapter_brings_its_validated_fusion(llm_data, adapter, tmp_path, monkeypatch):
    from convrec.llm import shipped
    from convrec.recommender.domains import resolve_adapter, with_adapter

    monkeypatch.setattr(shipped, "ADAPTERS_DIR", tmp_path)
    fusion = shipped.ShippedFusion(0.7, "minmax", 0.6, 5)
    shipped.export_adapter(adapter, tmp_path / "toy", fusion=fusion)
    assert shipped.shipped_adapters() == ["toy"]
    assert resolve_adapter("toy", None) == tmp_path / "toy"  # the domain's own
    assert resolve_adapter("other", None) is None
    assert resolve_adapter("toy", "none") is None
    assert resolve_adapter("other", "toy") == tmp_path / "toy"  # by name
    assert resolve_adapter("toy", adapter) == adapter  # a directory as given
    base = Recommender.build(llm_data)
    rec = with_adapter(base, resolve_adapter("toy", None))
    weights = rec.config.weights  # the CF + LLM total is split alpha : 1 - alpha
    assert weights["cf"] / (weights["cf"] + weights["llm"]) == pytest.approx(0.7)
    assert (rec.config.normalisation, rec.config.rating_alpha) == ("minmax", 0.6)
    assert rec.config.llm_candidates == 5
    assert with_adapter(base, tmp_path / "toy", llm_candidates=7).config.llm_candidates == 7
    plain = with_adapter(base, adapter)  # no fusion saved: the recommender's own, 20 candidates
    assert plain.config.weights == base.config.weights and plain.config.llm_candidates == 20
    assert rec.config.session_alpha is None  # sessions fuse as known users do


def test_sessions_fuse_with_their_own_alpha(llm_data, adapter, tmp_path):
    from convrec.llm import shipped
    from convrec.recommender.domains import with_adapter

    fusion = shipped.ShippedFusion(0.5, "zscore", 1.0, 0, session_alpha=1.0)
    shipped.export_adapter(adapter, tmp_path / "toy", fusion=fusion)
    base = Recommender.build(llm_data)
    rec = with_adapter(base, tmp_path / "toy")
    assert rec.config.session_alpha == 1.0 and rec.config.alpha == pytest.approx(0.5)
    liked = [llm_data.items.external[i] for i in (1, 4, 7)]
    session = rec.recommend(history=liked, k=5, explain=False)
    # alpha 1 for sessions: the LLM is not asked, the list is the CF + content one
    assert all("llm" not in item.components for item in session.items)
    cf_only = rec.with_fusion(1.0).recommend(history=liked, k=5, explain=False)
    assert [i.item_id for i in session.items] == [i.item_id for i in cf_only.items]
    # known users keep alpha 0.5 and their LLM scores; an explicit alpha sets both
    user = rec.recommend(user=llm_data.users.external[0], k=5, explain=False)
    assert any("llm" in item.components for item in user.items)
    asked = rec.recommend(history=liked, k=5, explain=False, alpha=0.0)
    assert all("llm" in item.components for item in asked.items)
    # one batch of both kinds: each fuses with its own weights
    both = rec.recommend_batch(
        [{"history": liked}, {"user": llm_data.users.external[0]}], k=5, explain=False
    )
    assert [i.item_id for i in both[0].items] == [i.item_id for i in session.items]
    assert [i.item_id for i in both[1].items] == [i.item_id for i in user.items]
    with pytest.raises(ValueError, match="session_alpha must be in"):
        shipped.ShippedFusion(session_alpha=1.5)


def test_sessions_fuse_with_their_own_fusion(llm_data, adapter, tmp_path):
    from convrec.llm import shipped
    from convrec.recommender.domains import with_adapter

    fusion = shipped.ShippedFusion(0.5, "zscore", 1.0, 0, session_alpha=0.3, session_fusion="rrf")
    shipped.export_adapter(adapter, tmp_path / "toy", fusion=fusion)
    base = Recommender.build(llm_data)
    rec = with_adapter(base, tmp_path / "toy")
    assert (rec.config.fusion, rec.config.session_fusion) == ("zscore", "rrf")
    liked = [llm_data.items.external[i] for i in (1, 4, 7)]
    user = llm_data.users.external[0]
    # a session ranks as a recommender fusing everything by rrf at 0.3 does
    rrf = rec.with_fusion(0.3, "rrf")
    session = rec.recommend(history=liked, k=8, explain=False)
    assert [i.item_id for i in session.items] == [
        i.item_id for i in rrf.recommend(history=liked, k=8, explain=False).items
    ]
    assert [i.score for i in session.items] == pytest.approx(
        [i.score for i in rrf.recommend(history=liked, k=8, explain=False).items]
    )
    assert (rrf.config.session_alpha, rrf.config.session_fusion) == (None, None)  # set both
    zscored = rec.with_fusion(0.3, "zscore").recommend(history=liked, k=8, explain=False)
    assert [i.score for i in session.items] != pytest.approx([i.score for i in zscored.items])
    # a known user keeps the z-scored fusion, in the same batch as a session
    both = rec.recommend_batch([{"history": liked}, {"user": user}], k=8, explain=False)
    alone = rec.recommend(user=user, k=8, explain=False)
    assert [i.score for i in both[1].items] == pytest.approx([i.score for i in alone.items])
    assert [i.score for i in both[0].items] == pytest.approx([i.score for i in session.items])
    # protocol S scores that shipped point beside the one it chooses
    from convrec.evaluation.specs import session_adapter_specs

    no_llm, fused_spec = session_adapter_specs(AdapterLoader(tmp_path / "toy"), C, llm=False)
    assert fused_spec.shipped == {"alpha": 0.3, "fusion": "rrf"}
    assert fused_spec.shipped in fused_spec.grid
    # beside it the same lists without the LLM, in the adapter's session fusion
    assert no_llm.name == "fused_no_llm" and no_llm.training is None
    assert (no_llm.factory().alpha, no_llm.factory().fusion) == (1.0, "rrf")
    _, plain = session_adapter_specs(AdapterLoader(adapter), C, llm=False)
    assert plain.shipped is None
    with pytest.raises(ValueError, match="session_fusion must be zscore, minmax or rrf"):
        shipped.ShippedFusion(session_fusion="mean")
    from convrec.recommender import RecommenderConfig

    with pytest.raises(ValueError, match="session_fusion must be one of"):
        RecommenderConfig(session_fusion="mean")


def test_an_adapter_brings_its_domains_session_model(llm_data, adapter, tmp_path):
    from convrec.llm import shipped
    from convrec.recommender.config import SESSION_CF
    from convrec.recommender.domains import with_adapter

    own = {"k": 5, "popularity": 0.5, "activity": 0.0}
    fusion = shipped.ShippedFusion(0.5, session_cf=own)
    shipped.export_adapter(adapter, tmp_path / "toy", fusion=fusion)
    base = Recommender.build(llm_data)
    rec = with_adapter(base, tmp_path / "toy")
    assert rec.config.session_cf == {**SESSION_CF, **own}
    assert (rec.session_cf.k, rec.session_cf.popularity, rec.session_cf.activity) == (5, 0.5, 0)
    assert base.session_cf.activity == SESSION_CF["activity"] == 1.0  # the default counts so
    assert base.session_cf.k == SESSION_CF["k"]  # the base recommender is left as it was
    assert with_adapter(base, adapter).session_cf is base.session_cf  # no entry: kept
    # protocol S measures the domain's configuration: the adapter's session model
    from convrec.evaluation.specs import session_adapter_specs

    (llm_spec,) = session_adapter_specs(AdapterLoader(tmp_path / "toy"), C, fused=False)
    assert llm_spec.factory().shared.config.session_cf == rec.config.session_cf
    assert llm_spec.factory().shared.config.cf["model"] == "RecencyItemKNN"  # sessions only
    (plain_spec,) = session_adapter_specs(AdapterLoader(adapter), C, fused=False)
    assert plain_spec.factory().shared.config.session_cf == SESSION_CF
    # ... and the LLM re-scores as many candidates as in the chat: the adapter's, else 20
    assert llm_spec.factory().shared.config.llm_candidates == rec.config.llm_candidates == 20
    assert plain_spec.factory().shared.config.llm_candidates == 20
    shipped.export_adapter(
        adapter, tmp_path / "few", fusion=shipped.ShippedFusion(0.5, llm_candidates=3)
    )
    (few,) = session_adapter_specs(AdapterLoader(tmp_path / "few"), C, fused=False)
    assert few.factory().shared.config.llm_candidates == 3
    assert with_adapter(base, tmp_path / "few").config.llm_candidates == 3
    with pytest.raises(ValueError, match="session_cf: unknown parameter 'window'"):
        shipped.ShippedFusion(session_cf={"window": 3})
    with pytest.raises(ValueError, match="session_cf: k must be a number"):
        shipped.ShippedFusion(session_cf={"k": "many"})


def test_convrec_export(adapter, tmp_path, capsys):
    from convrec.cli import main
    from convrec.llm.shipped import ShippedFusion, shipped_fusion

    assert main(["export", str(adapter), "--out", str(tmp_path / "a"), "--alpha", "0.4"]) == 0
    assert "MB" in capsys.readouterr().out
    assert shipped_fusion(tmp_path / "a") == ShippedFusion(0.4, "zscore", 0.4, 20)
    assert main(["export", str(adapter), "--out", str(tmp_path / "b"), "--rating-alpha", "1"]) == 2
    assert "--rating-alpha needs --alpha" in capsys.readouterr().err
    quiet = ["--alpha", "0.4", "--no-llm-explanations"]
    assert main(["export", str(adapter), "--out", str(tmp_path / "e"), *quiet]) == 0
    assert shipped_fusion(tmp_path / "e") == ShippedFusion(0.4, "zscore", 0.4, 20, False)
    assert main(["export", str(adapter), "--out", str(tmp_path / "f"), quiet[-1]]) == 2
    assert "--no-llm-explanations needs --alpha" in capsys.readouterr().err
    sessions = ["--alpha", "0.8", "--session-alpha", "1"]
    assert main(["export", str(adapter), "--out", str(tmp_path / "g"), *sessions]) == 0
    assert shipped_fusion(tmp_path / "g") == ShippedFusion(0.8, "zscore", 0.8, 20, True, 1.0)
    assert main(["export", str(adapter), "--out", str(tmp_path / "h"), *sessions[2:]]) == 2
    assert "--session-alpha needs --alpha" in capsys.readouterr().err
    own = ["--alpha", "0.8", "--session-alpha", "0.7", "--session-fusion", "minmax"]
    assert main(["export", str(adapter), "--out", str(tmp_path / "k"), *own]) == 0
    saved = shipped_fusion(tmp_path / "k")
    assert saved is not None and (saved.session_alpha, saved.session_fusion) == (0.7, "minmax")
    assert main(["export", str(adapter), "--out", str(tmp_path / "l"), *own[4:]]) == 2
    assert "--session-fusion needs --alpha" in capsys.readouterr().err
    tuned = ["--alpha", "0.8", "--session-cf", "k=50, popularity=0.5,tau=none,activity=0"]
    assert main(["export", str(adapter), "--out", str(tmp_path / "i"), *tuned]) == 0
    saved = shipped_fusion(tmp_path / "i")
    assert saved is not None
    assert saved.session_cf == {"k": 50, "popularity": 0.5, "tau": None, "activity": 0.0}
    bad = ["--alpha", "0.8", "--session-cf", "k=fifty"]
    assert main(["export", str(adapter), "--out", str(tmp_path / "j"), *bad]) == 2
    assert "--session-cf: k must be a number, got 'fifty'" in capsys.readouterr().err
    beams = ["--explain-beams", "4", "--explain-no-repeat-ngram", "3"]
    assert main(["export", str(adapter), "--out", str(tmp_path / "c"), *beams]) == 0
    from convrec.llm.model import LLMModel
    from convrec.llm.scoring import Decoding

    assert LLMModel.from_pretrained(tmp_path / "c").config.decoding() == Decoding(4, 1.0, 3)
    assert LLMModel.from_pretrained(tmp_path / "a").config.decoding() == Decoding()  # greedy
    assert main(["export", str(adapter), "--out", str(tmp_path / "d"), "--explain-beams", "0"]) == 2
    assert "num_beams must be >= 1" in capsys.readouterr().err


def _perturbed_copy(adapter, out):
    """A second, different adapter: ``adapter`` with its LoRA B matrices scaled and shifted."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter, out)
    tensors = load_file(out / "adapter_model.safetensors")
    for key, value in tensors.items():
        if "lora_B" in key:
            tensors[key] = value * 3.0 + 0.05
    save_file(tensors, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    return out


def test_an_adapter_bank_shares_one_backbone_and_switches_per_call(llm_data, adapter, tmp_path):
    import threading

    from convrec.llm.bank import AdapterBank
    from convrec.llm.model import LLMModel

    other = _perturbed_copy(adapter, tmp_path / "other")
    rows = random_split(llm_data).train
    users, items = llm_data.user[:12], llm_data.item[:12]
    cands = np.stack([llm_data.item[:6], llm_data.item[6:12]]).astype(np.int32)
    refs = {}
    for name, path in (("a", adapter), ("b", other)):
        alone = LLMModel.from_pretrained(path, inference="lora").fit(
            llm_data, rows, item_neighbours(llm_data, rows)
        )
        refs[name] = (alone.predict_ratings(users, items), alone.score_candidates(users[:2], cands))
    assert not np.allclose(refs["a"][0], refs["b"][0], atol=1e-3)

    bank = AdapterBank()
    models = {
        "a": LLMModel.from_pretrained(adapter, bank=bank, name="a"),
        "b": LLMModel.from_pretrained(other, bank=bank, name="b"),
    }
    assert models["a"].backbone.model is models["b"].backbone.model  # one set of base weights
    for m in models.values():
        m.fit(llm_data, rows, item_neighbours(llm_data, rows))
    results = {name: [] for name in models}

    def run(name):
        for _ in range(3):
            m = models[name]
            results[name].append((m.predict_ratings(users, items),
                                  m.score_candidates(users[:2], cands)))  # fmt: skip

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b", "a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, outs in results.items():
        assert len(outs) == 6
        for ratings, scores in outs:
            np.testing.assert_allclose(ratings, refs[name][0], atol=1e-5)
            np.testing.assert_allclose(scores, refs[name][1], atol=1e-4)
    with pytest.raises(ValueError, match="already has an adapter named 'a'"):
        LLMModel.from_pretrained(other, bank=bank, name="a")
    saved = models["b"].save_pretrained(tmp_path / "saved")  # the banked adapter, as loaded
    reloaded = LLMModel.from_pretrained(saved, inference="lora").fit(
        llm_data, rows, item_neighbours(llm_data, rows)
    )
    np.testing.assert_allclose(reloaded.predict_ratings(users, items), refs["b"][0], atol=1e-5)


def test_chat_domains_with_adapters_share_one_backbone(llm_data, adapter, write, tmp_path):
    from convrec.recommender.domains import load_domains

    lines = [
        f'{{"reviewerID": "u{u % 7}", "asin": "i{u % 5}", "overall": {1 + u % 5}.0, '
        f'"unixReviewTime": {1000 + u}, "reviewText": "a pop filter", "summary": "ok"}}'
        for u in range(30)
    ]
    reviews = write("reviews.json.gz", "\n".join(lines), gz=True)
    other = _perturbed_copy(adapter, tmp_path / "other")
    recs = load_domains("ml-100k", [f"gear={reviews}", f"plain={reviews}"], adapter=str(adapter),
                        domain_adapters=[f"gear={other}", "plain=none"])  # fmt: skip
    movies, gear = recs["ml-100k"].llm, recs["gear"].llm
    assert recs["plain"].llm is None
    assert movies.bank is gear.bank is not None
    assert (movies.adapter_name, gear.adapter_name) == ("ml-100k", "gear")
    assert movies.backbone.model is gear.backbone.model
    assert len(gear.predict_ratings(np.zeros(2, np.int32), np.arange(2, dtype=np.int32))) == 2
    alone = load_domains("ml-100k", [f"plain={reviews}"], adapter=str(adapter))
    assert alone["ml-100k"].llm.bank is None  # one adapter: its own merged copy, no bank
    with pytest.raises(ValueError, match="no extra domain named 'nope'"):
        load_domains("ml-100k", domain_adapters=["nope=x"], adapter="none")


@pytest.mark.parametrize("ranking", ["pointwise", "next", "rerank"])
def test_an_empty_candidate_set_scores_nothing_on_every_llm_path(llm_data, adapter, ranking):
    from convrec.llm.model import LLMModel
    from convrec.schema import ItemFilter

    rows = random_split(llm_data).train
    llm = LLMModel.from_pretrained(adapter, ranking=ranking)
    llm.fit(llm_data, rows, item_neighbours(llm_data, rows))
    empty = np.full((2, 5), -1, np.int32)
    assert np.isneginf(llm.score_candidates(np.asarray([0, 1], np.int32), empty)).all()
    history = [(np.asarray([0, 1], np.int32), np.asarray([5.0, 4.0], np.float32))] * 2
    assert np.isneginf(llm.score_candidates_for(history, empty)).all()
    rec = Recommender.build(llm_data, rows, llm=llm)
    nothing = ItemFilter(year_min=1000, year_max=1001)  # no item fits
    assert len(rec.recommend(user=llm_data.users.external[0], filters=nothing, k=5)) == 0
    assert len(rec.recommend(history=[llm_data.items.external[0]], filters=nothing, k=5)) == 0


def test_an_explainer_adapter_writes_the_explanations_and_leaves_the_rest(
    llm_data, adapter, tmp_path, capsys
):
    """``convrec export --explainer``: the second adapter explains, the first still rates and
    ranks exactly as alone; the pair survives re-export, save and a bank, and a mismatched
    or nested explainer is refused by name."""
    from convrec.cli import main
    from convrec.llm.bank import AdapterBank
    from convrec.llm.model import LLMModel
    from convrec.llm.shipped import export_adapter

    other = _perturbed_copy(adapter, tmp_path / "other")
    cmd = ["export", str(adapter), "--out", str(tmp_path / "pair"), "--explainer", str(other)]
    assert main([*cmd, "--explain-candidates", "2", "--inference", "int8"]) == 0
    assert "pair/explainer" in capsys.readouterr().out
    pair_dir = tmp_path / "pair"
    saved = json.loads((pair_dir / "convrec_config.json").read_text())
    assert (saved["llm"]["explainer"], saved["llm"]["inference"]) == ("explainer", "int8")
    inner = json.loads((pair_dir / "explainer" / "convrec_config.json").read_text())["llm"]
    assert inner["explain_candidates"] == 2 and inner.get("inference", "merged") == "merged"

    rows = random_split(llm_data).train
    neighbours = item_neighbours(llm_data, rows)
    users, items = llm_data.user[:8], llm_data.item[:8]

    def loaded(path, **kw):
        return LLMModel.from_pretrained(path, **kw).fit(llm_data, rows, neighbours)

    pair = loaded(pair_dir, inference="merged")
    main_alone = loaded(export_adapter(adapter, tmp_path / "main"))
    explainer_alone = loaded(pair_dir / "explainer")
    np.testing.assert_array_equal(
        pair.predict_ratings(users, items), main_alone.predict_ratings(users, items)
    )
    texts = pair.explain_options(users[:3], items[:3])
    assert texts == explainer_alone.explain_options(users[:3], items[:3])
    assert all(len(t) == 2 for t in texts)

    again = export_adapter(pair_dir, tmp_path / "again")  # the explainer comes along
    assert loaded(again).explain_options(users[:3], items[:3]) == texts
    kept = pair.save_pretrained(tmp_path / "saved")
    assert (kept / "explainer" / "adapter_model.safetensors").is_file()
    assert loaded(kept, inference="merged").explainer is not None
    bank = AdapterBank()
    banked = LLMModel.from_pretrained(pair_dir, bank=bank, name="pair")
    assert bank.names == ["pair"] and banked.explainer is not None  # its own int8 copy
    assert banked.explainer.bank is None and banked.explainer.config.inference == "merged"

    config = pair_dir / "explainer" / "convrec_config.json"
    wrong = json.loads(config.read_text())
    wrong["data"] = {"name": "another"}
    config.write_text(json.dumps(wrong))
    with pytest.raises(ValueError, match="explainer 'explainer' was trained on 'another'"):
        LLMModel.from_pretrained(pair_dir)
    with pytest.raises(ValueError, match="has an explainer of its own"):
        export_adapter(adapter, tmp_path / "nested", explainer=again)
    with pytest.raises(ValueError, match="inference must be one of"):
        export_adapter(adapter, tmp_path / "x", inference="fp8")
