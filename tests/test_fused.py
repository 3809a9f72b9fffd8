"""The fused CF + LLM model end to end on tiny data: alpha extremes, save / load, convrec eval."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")

from convrec import Recommender  # noqa: E402
from convrec.cf.rating import KNNBaseline  # noqa: E402
from convrec.cf.sequential import SequentialKNN  # noqa: E402
from convrec.fused import AdapterLoader, FusedModel, SharedParts  # noqa: E402
from convrec.llm.backbone import BackboneConfig  # noqa: E402
from convrec.llm.train import TrainConfig, train  # noqa: E402
from convrec.splits import leave_last_out_split, random_split  # noqa: E402

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
    # alpha = 1: the SequentialKNN ranking (its reached items; popular items pad the pool)
    seq = SequentialKNN(tau=2.0, window=10).fit(llm_data, split.train)
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
    knn = KNNBaseline().fit(llm_data, split.train).predict_ratings(u, i)
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
