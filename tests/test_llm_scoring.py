"""Fast scoring paths against the naive references, and LLMModel's evaluation interface."""

import dataclasses
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")

from convrec.evaluation.splits import random_split  # noqa: E402
from convrec.llm import PromptBuilder, Task  # noqa: E402
from convrec.llm.backbone import BackboneConfig, load_backbone  # noqa: E402
from convrec.llm.model import LLMConfig, LLMModel  # noqa: E402
from convrec.llm.scoring import Decoding, Scorer, tidy_text  # noqa: E402
from convrec.llm.scoring_reference import ReferenceScorer  # noqa: E402
from convrec.recommender.neighbours import item_neighbours  # noqa: E402


def _train_a_little(backbone, records, steps=60, batch=16, lr=3e-3):
    """A few plain AdamW steps so that greedy decoding emits rating digits."""
    model = backbone.model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    gen = np.random.default_rng(0)
    model.train()
    for _ in range(steps):
        pick = gen.choice(len(records), size=batch, replace=False)
        src = backbone.encode_sources([records[k].source for k in pick])
        tgt = backbone.encode_targets([records[k].target for k in pick])
        width = max(len(t) for t in tgt)
        labels = torch.tensor([t + [-100] * (width - len(t)) for t in tgt])
        loss = model(**src, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def _lora_with_random_b(tiny_t5_dir, seed):
    """A LoRA backbone whose B matrices are random (so LoRA changes the outputs)."""
    lora = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4))
    with torch.no_grad():
        for name, p in lora.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(seed))
    return lora


@pytest.fixture(scope="module")
def setup(llm_data, tiny_t5_dir):
    split = random_split(llm_data)
    builder = PromptBuilder().fit(llm_data, split.train, item_neighbours(llm_data, split.train))
    backbone = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir)), lora=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _train_a_little(backbone, builder.records(Task.RATING))
    return llm_data, split, builder, backbone


def test_one_step_rating_matches_generate_and_parse(setup):
    data, split, builder, backbone = setup
    rows = split.test[:24]
    prompts = builder.prompts(Task.RATING, data.user[rows], data.item[rows])
    scorer = Scorer(backbone, batch_size=5)  # uneven batches, mixed prompt lengths
    fast = scorer.rating_scores(prompts)
    naive, tokens = ReferenceScorer(scorer).ratings(prompts)
    assert fast.expected.dtype == np.float32 and fast.expected.shape == (len(rows),)
    assert np.all((fast.expected >= 1) & (fast.expected <= 5))
    np.testing.assert_allclose(fast.probs.sum(1), 1.0, rtol=1e-5)
    # greedy decoding's first token is exactly the full-vocabulary argmax of the one step
    assert [t[0] for t in tokens] == fast.top_token.tolist()
    agree = ~np.isnan(naive)
    assert agree.mean() > 0.5, "the briefly trained model should answer with digits"
    argmax_rating = fast.probs.argmax(1) + 1.0
    assert np.array_equal(naive[agree], argmax_rating[agree])
    # batching does not change results
    alone = Scorer(backbone, batch_size=1).rating_scores(prompts[:4])
    np.testing.assert_allclose(alone.expected, fast.expected[:4], rtol=1e-5, atol=1e-5)


def test_batched_answer_scores_equal_one_forward_per_candidate(setup):
    _, _, builder, backbone = setup
    users = np.repeat(np.array([0, 3, 7], np.int32), 5)
    items = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 4, 29, 11, 2], np.int32)  # with repeats
    prompts = builder.prompts(Task.RANKING, users, items)
    assert all(builder.title(int(i)) in p for i, p in zip(items, prompts, strict=True))
    scorer = Scorer(backbone, batch_size=4)  # uneven batches, mixed prompt lengths
    fast = scorer.answer_scores(prompts)
    naive = ReferenceScorer(scorer).answer_scores(prompts)
    assert fast.shape == (15,) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)
    assert fast[10] == fast[11]  # the same (user, candidate) twice
    assert np.unique(fast.round(5)).size > 5  # candidates are told apart


def test_title_likelihoods_encode_once_and_equal_one_forward_per_candidate(setup):
    _, _, builder, backbone = setup
    users = np.array([0, 3, 7], np.int32)
    prompts = builder.history_prompts(Task.NEXT, users)
    items = [1, 2, 29, 4, 4, 11, 5, 8, 6, 7, 12]  # uneven counts per prompt, with repeats
    owner = np.array([2, 0, 1, 0, 0, 2, 1, 1, 2, 2, 0])  # unsorted
    titles = [builder.title(i) for i in items]
    scorer = Scorer(backbone, batch_size=2)  # several encoder batches, decoder chunks of 8
    fast = scorer.sequence_scores(prompts, titles, owner)
    naive = ReferenceScorer(scorer).sequence_scores(prompts, titles, owner)
    assert fast.shape == (len(items),) and fast.dtype == np.float32
    assert np.all(fast < 0)  # log-probabilities of whole titles
    np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)
    assert fast[3] == fast[4]  # the same (prompt, title) twice
    # a probability: the title's tokens then eos, each under teacher forcing
    model = backbone.model
    batch = backbone.encode_sources([prompts[1]])
    labels = torch.tensor(backbone.encode_targets([titles[2]]))
    with torch.no_grad():
        loss = model(**batch, labels=labels).loss  # mean token cross-entropy
    assert fast[2] == pytest.approx(-float(loss) * labels.shape[1], rel=1e-4)
    with pytest.raises(ValueError, match="owner must be"):
        scorer.sequence_scores(prompts, titles, owner[:-1])
    with pytest.raises(ValueError, match="owner must be"):
        scorer.sequence_scores(prompts, titles, owner + 1)


def test_next_ranking_scores_candidates_by_title_likelihood(setup):
    data, split, _, backbone = setup
    model = LLMModel(LLMConfig(n_candidates=5, ranking="next"), backbone=backbone)
    model.fit(data, split.train, item_neighbours(data, split.train))
    users = data.user[split.test[:3]]
    cands = np.array([[1, 2, -1], [4, -1, -1], [5, 6, 7]], np.int32)
    scores = model.score_candidates(users, cands)
    assert np.array_equal(np.isfinite(scores), cands >= 0)
    prompts = model.builder.history_prompts(Task.NEXT, users)
    rows, cols = np.nonzero(cands >= 0)
    titles = [model.builder.title(int(i)) for i in cands[rows, cols]]
    want = ReferenceScorer(Scorer(backbone)).sequence_scores(prompts, titles, rows)
    np.testing.assert_allclose(scores[rows, cols], want, rtol=1e-4, atol=1e-4)
    histories = [model.builder.history(int(u)) for u in users]
    np.testing.assert_allclose(model.score_candidates_for(histories, cands), scores)
    with pytest.raises(ValueError, match="ranking must be one of"):
        LLMConfig(ranking="listwise")


def test_batched_generation_is_length_limited(setup):
    data, split, builder, backbone = setup
    rows = split.test[:6]
    prompts = builder.prompts(Task.EXPLANATION, data.user[rows], data.item[rows])
    scorer = Scorer(backbone, batch_size=4)
    texts, n_tokens = scorer.generate(prompts, max_new_tokens=5)
    assert len(texts) == 6 and all(isinstance(t, str) for t in texts)
    assert 6 <= n_tokens <= 30
    single, _ = Scorer(backbone, batch_size=1).generate(prompts[:2], max_new_tokens=5)
    assert single == texts[:2]


def test_beam_decoding_is_configured_length_limited_and_wired_to_explain(setup):
    data, split, builder, backbone = setup
    rows = split.test[:4]
    prompts = builder.prompts(Task.EXPLANATION, data.user[rows], data.item[rows])
    scorer = Scorer(backbone, batch_size=4)
    beam = Decoding(num_beams=3, length_penalty=0.6, no_repeat_ngram_size=2, copy_numbers=True)
    config = scorer._generation_config(5, beam)
    assert (config.num_beams, config.length_penalty, config.no_repeat_ngram_size) == (3, 0.6, 2)
    assert config.do_sample is False and scorer._generation_config(5).num_beams == 1
    texts, n_tokens = scorer.generate(prompts, max_new_tokens=5, decoding=beam)
    assert len(texts) == 4 and 4 <= n_tokens <= 20
    model = LLMModel(
        LLMConfig(explain_max_tokens=5, explain_beams=3, explain_length_penalty=0.6,
                  explain_no_repeat_ngram=2),
        backbone=backbone,
    ).fit(data, split.train, item_neighbours(data, split.train))  # fmt: skip
    assert model.config.decoding() == beam
    assert model.explain(data.user[rows], data.item[rows]) == texts
    # several candidates per prompt, prompt-major, each opened by another likely first token
    three = dataclasses.replace(beam, candidates=3)
    many, _ = scorer.generate(prompts, max_new_tokens=5, decoding=three)
    assert len(many) == 12
    (order, batch), *_ = scorer._batches(prompts)
    enc, mask = scorer._encode(batch), batch["attention_mask"]
    openings = scorer._openings(enc, mask, [], 3)[np.argsort(order)]  # in prompt order
    assert all(len(set(row)) == 3 for row in openings.tolist())
    special = set(backbone.tokenizer.all_special_ids)
    assert not special & set(openings.ravel().tolist())
    greedy = Decoding(copy_numbers=False)
    two = dataclasses.replace(greedy, candidates=2)
    firsts, _ = scorer.generate(prompts, max_new_tokens=5, decoding=two)
    config = scorer._generation_config(4, greedy)
    for i, prompt in enumerate(prompts):  # each candidate: its opening, then greedy
        enc = backbone.tokenizer([prompt], return_tensors="pt")
        for r in range(2):
            dec = torch.tensor([[backbone.decoder_start_id, int(openings[i, r])]])
            ids = backbone.model.generate(**enc, decoder_input_ids=dec, generation_config=config)
            text = tidy_text(backbone.tokenizer.decode(ids[0, 1:], skip_special_tokens=True))
            assert firsts[2 * i + r] == text
    model.config = dataclasses.replace(model.config, explain_candidates=3)
    options = model.explain_options(data.user[rows], data.item[rows])
    assert options == [many[i * 3 : i * 3 + 3] for i in range(4)]
    assert model.explain(data.user[rows], data.item[rows]) == texts


def test_decoding_settings_are_checked_and_texts_tidied():
    with pytest.raises(ValueError, match="num_beams must be >= 1"):
        Decoding(num_beams=0)
    with pytest.raises(ValueError, match="candidates must be >= 1"):
        Decoding(candidates=0)
    with pytest.raises(ValueError, match="length_penalty must be finite"):
        Decoding(length_penalty=float("nan"))
    with pytest.raises(ValueError, match="no_repeat_ngram_size"):
        LLMConfig(explain_no_repeat_ngram=-1)
    assert tidy_text(" it ' s great for the price . ") == "it's great for the price."
    assert tidy_text("don ' t buy : it broke !") == "don't buy: it broke!"
    assert tidy_text("rock 'n' roll") == "rock 'n' roll"


def test_llm_model_implements_the_evaluation_interface(setup):
    data, split, _, backbone = setup
    calls = []
    model = LLMModel(
        LLMConfig(n_candidates=6, explain_max_tokens=4),
        backbone=backbone,
        train=lambda m, d, rows: calls.append(len(rows)),
    )
    assert model.fit(data, split.train, item_neighbours(data, split.train)) is model and calls == [
        len(split.train)
    ]
    rows = split.test[:10]
    ratings = model.predict_ratings(data.user[rows], data.item[rows])
    assert ratings.shape == (10,) and ratings.dtype == np.float32
    users = data.user[rows[:3]]
    cands = np.array([[1, 2, -1], [4, -1, -1], [5, 6, 7]], np.int32)
    scores = model.score_candidates(users, cands)
    assert scores.shape == (3, 3) and scores.dtype == np.float32
    assert np.array_equal(np.isfinite(scores), cands >= 0)
    full = model.score_items(users)
    top = model.cf_candidates(users)
    assert full.shape == (3, data.n_items)
    for b in range(3):
        assert set(np.flatnonzero(np.isfinite(full[b]))) == set(top[b][top[b] >= 0].tolist())
    texts = model.explain(data.user[rows[:2]], data.item[rows[:2]])
    assert len(texts) == 2


def test_inference_copy_merges_lora_and_int8_stays_close(setup, tiny_t5_dir):
    from convrec.llm.backbone import inference_copy

    data, split, builder, _ = setup
    lora = _lora_with_random_b(tiny_t5_dir, seed=3)
    rows = split.test[:8]
    prompts = builder.prompts(Task.RATING, data.user[rows], data.item[rows])
    ref = Scorer(lora).rating_scores(prompts).probs
    merged = Scorer(inference_copy(lora)).rating_scores(prompts).probs
    np.testing.assert_allclose(merged, ref, atol=1e-4)
    int8 = Scorer(inference_copy(lora, int8=True)).rating_scores(prompts).probs
    np.testing.assert_allclose(int8, ref, atol=0.05)
    assert any("lora_B" in n for n, _ in lora.model.named_parameters())  # original untouched


def test_explicit_histories_score_like_the_users_they_copy(setup):
    """A new session whose history equals a known user's gets that user's scores."""
    data, split, _, backbone = setup
    model = LLMModel(LLMConfig(n_candidates=5, explain_max_tokens=4), backbone=backbone)
    model.fit(data, split.train, item_neighbours(data, split.train))
    users = data.user[split.test[:3]]
    cands = model.cf_candidates(users)
    histories = [model.builder.history(int(u)) for u in users]
    np.testing.assert_allclose(
        model.score_candidates_for(histories, cands), model.score_candidates(users, cands)
    )
    liked = [(np.array([4, 9], np.int32), np.array([5.0, 5.0], np.float32))]
    prompt = model.builder.prompts_for(Task.RANKING, liked, np.array([7]))[0]
    assert model.builder.title(4) in prompt and model.builder.title(9) in prompt
    assert model.builder.title(7) in prompt
    assert len(model.explain_for(liked, np.array([7]))) == 1
    with pytest.raises(ValueError, match="B = 1"):
        model.score_candidates_for(liked, cands)


def test_llm_model_scores_from_a_merged_or_int8_copy(setup, tiny_t5_dir):
    data, split, _, _ = setup
    lora = _lora_with_random_b(tiny_t5_dir, seed=5)
    rows = split.test[:8]
    u, i = data.user[rows], data.item[rows]
    out = {}
    for mode in ("lora", "merged", "int8"):
        model = LLMModel(LLMConfig(inference=mode), backbone=lora).fit(
            data, split.train, item_neighbours(data, split.train)
        )
        out[mode] = model.predict_ratings(u, i)
        assert (model.scorer.backbone is lora) == (mode == "lora")
    np.testing.assert_allclose(out["merged"], out["lora"], atol=1e-4)
    np.testing.assert_allclose(out["int8"], out["lora"], atol=0.1)
    with pytest.raises(ValueError, match="inference must be one of"):
        LLMConfig(inference="fp4")


def test_rerank_scores_encode_once_and_equal_one_forward_per_candidate(setup):
    _, _, builder, backbone = setup
    users = np.array([0, 3, 7], np.int32)
    histories = [builder.history(int(u)) for u in users]
    prompts = builder.history_prompts_for(Task.RERANK, histories)
    items = np.array([1, 2, 29, 4, 4, 11, 5, 8, 6, 7, 12], np.int32)  # repeats
    owner = np.array([2, 0, 1, 0, 0, 2, 1, 1, 2, 2, 0])  # unsorted, uneven counts
    texts = builder.candidate_texts(histories, owner, items)
    assert all(t.endswith("next?") for t in texts)
    scorer = Scorer(backbone, batch_size=2)  # several encoder batches, decoder chunks of 8
    fast = scorer.cue_scores(prompts, texts, owner)
    naive = ReferenceScorer(scorer).cue_scores(prompts, texts, owner)
    assert fast.shape == (len(items),) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)
    assert fast[3] == fast[4]  # the same (prompt, candidate) twice
    assert np.unique(fast.round(5)).size > 5  # candidates are told apart
    # the answer is read after the cue: the model's own logits at the text's last token
    dec = scorer.cue_inputs(texts[:1])
    batch = backbone.encode_sources([prompts[owner[0]]])
    with torch.no_grad():
        logp = backbone.model(**batch, decoder_input_ids=torch.tensor(dec)).logits[0, -1]
        logp = torch.log_softmax(logp.float(), -1)
    yes, no = scorer._answer_ids[1], scorer._answer_ids[0]
    assert fast[0] == pytest.approx(float(logp[yes] - logp[no]), abs=1e-4)
    long = scorer.cue_inputs(["word " * 400 + "next?"])[0]
    assert len(long) <= 1 + 96 + len(scorer._answer_prefix)  # cut, the cue kept at the end
    assert long[-1 - len(scorer._answer_prefix)] == dec[0][-1 - len(scorer._answer_prefix)]
    with pytest.raises(ValueError, match="owner must be"):
        scorer.cue_scores(prompts, texts, owner[:-1])


def test_rerank_ranking_scores_candidates_after_one_history_prompt(setup):
    data, split, _, backbone = setup
    model = LLMModel(LLMConfig(n_candidates=5, ranking="rerank"), backbone=backbone)
    model.fit(data, split.train, item_neighbours(data, split.train))
    users = data.user[split.test[:3]]
    cands = model.cf_candidates(users)
    cands[0, 2:] = -1
    seen = model.builder.history(int(users[1]))[0]
    listed = model.builder.cf_top([seen])[0]
    cands[1, 1] = next(i for i in range(data.n_items) if i not in listed)  # outside the list
    scores = model.score_candidates(users, cands)
    assert np.array_equal(np.isfinite(scores), cands >= 0)
    histories = [model.builder.history(int(u)) for u in users]
    prompts = model.builder.history_prompts_for(Task.RERANK, histories)
    rows, cols = np.nonzero(cands >= 0)
    texts = model.builder.candidate_texts(histories, rows, cands[rows, cols])
    assert " rank 1 " in texts[0] and " unranked " in texts[int(np.flatnonzero(rows == 1)[1])]
    want = ReferenceScorer(Scorer(backbone)).cue_scores(prompts, texts, rows)
    np.testing.assert_allclose(scores[rows, cols], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.score_candidates_for(histories, cands), scores)


def test_default_backbone_projects_each_prompt_once_and_heads_only_the_answer(setup):
    """On the default MiniLM encoder-decoder the decoder reads cached cross-attention keys /
    values (one projection per prompt, not per candidate) and, for rerank, runs the LM head at
    the answer position only: both equal the unbatched forwards."""
    _, _, builder, _ = setup
    backbone = load_backbone(BackboneConfig(seed=0))
    with torch.no_grad():
        for name, p in backbone.model.named_parameters():
            if "lora_B" in name:  # LoRA must act in the cached projections too
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
    scorer = Scorer(backbone, batch_size=2)
    assert scorer._keeps_logits and scorer._heads_tokens
    users = [0, 3, 7]
    histories = [builder.history(u) for u in users]
    items = np.array([1, 2, 29, 4, 11, 5, 8, 6, 7, 12], np.int32)
    owner = np.array([2, 0, 1, 0, 2, 1, 1, 2, 2, 0])
    projected = []
    keys = [m for n, m in backbone.model.named_modules() if n.endswith("crossattention.self.key")]
    hooks = [m.register_forward_hook(lambda m, i, o: projected.append(i[0].shape[0])) for m in keys]
    try:
        prompts = builder.history_prompts_for(Task.RERANK, histories)
        texts = builder.candidate_texts(histories, owner, items)
        fast = scorer.cue_scores(prompts, texts, owner)
        assert sum(projected) == len(keys) * len(users)  # each prompt's states projected once
        projected.clear()
        naive = ReferenceScorer(scorer).cue_scores(prompts, texts, owner)
        assert sum(projected) == len(keys) * len(items)
        np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)
        prompts = builder.history_prompts_for(Task.NEXT, histories)
        titles = [builder.title(int(i)) for i in items]
        fast = scorer.sequence_scores(prompts, titles, owner)
        naive = ReferenceScorer(scorer).sequence_scores(prompts, titles, owner)
        np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)
    finally:
        for h in hooks:
            h.remove()


def test_default_backbone_first_step_folds_the_cross_attention(setup):
    """Rating and yes / no scores of a merged default backbone read the encoder states with
    the cross-attention folded (no key / value projection): the same scores as the LoRA
    model's own forward; an int8 copy folds too and stays close; a LoRA-wrapped model (its
    weights are not one tensor) takes the model's forward."""
    from convrec.llm.backbone import inference_copy
    from convrec.llm.bert_decoder import first_step_logits, folds

    data, split, builder, _ = setup
    lora = load_backbone(BackboneConfig(seed=0))
    with torch.no_grad():
        for name, p in lora.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(2))
    merged, int8 = inference_copy(lora), inference_copy(lora, int8=True)
    assert folds(merged.model) and folds(int8.model) and not folds(lora.model)
    rows = split.test[:12]
    prompts = builder.prompts(Task.RATING, data.user[rows], data.item[rows])
    projected = []
    keys = [
        m
        for n, m in merged.model.named_modules()
        if n.endswith(("crossattention.self.key", "crossattention.self.value"))
    ]
    hooks = [m.register_forward_hook(lambda m, i, o: projected.append(1)) for m in keys]
    try:
        fast = Scorer(merged, batch_size=5).rating_scores(prompts)
    finally:
        for h in hooks:
            h.remove()
    assert not projected  # no key / value projection of the encoder states
    ref = Scorer(lora, batch_size=5).rating_scores(prompts)
    np.testing.assert_allclose(fast.probs, ref.probs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.mass, ref.mass, rtol=1e-4, atol=1e-6)
    assert np.array_equal(fast.top_token, ref.top_token)
    # expected ratings alone: the LM head at the five rating tokens only, the same values
    np.testing.assert_allclose(
        Scorer(merged, batch_size=5).ratings(prompts), ref.expected, atol=1e-5
    )
    # int8 key / value layers: the fold reads their dequantized weights. A float model whose
    # cross-attention keys / values are int8 layers (every other layer float, so no rounding
    # of later activations can amplify float differences) folds exactly like the same model
    # with those weights as float layers
    import copy

    from convrec.llm.bert_decoder import _dense

    part_int8, floated = copy.deepcopy(merged.model), copy.deepcopy(merged.model)
    quantized = int8.model.decoder.bert.encoder.layer
    for mixed, plain, q in zip(
        part_int8.decoder.bert.encoder.layer,
        floated.decoder.bert.encoder.layer,
        quantized,
        strict=True,
    ):
        for name in ("key", "value"):
            layer = getattr(q.crossattention.self, name)
            setattr(mixed.crossattention.self, name, layer)
            weight, bias = _dense(layer)
            dense = torch.nn.Linear(weight.shape[1], weight.shape[0])
            dense.weight.data, dense.bias.data = weight.clone(), bias.clone()
            setattr(plain.crossattention.self, name, dense)
    assert folds(part_int8)
    pairs = builder.prompts(Task.RANKING, data.user[rows], data.item[rows])
    np.testing.assert_allclose(
        Scorer(merged).answer_scores(pairs), Scorer(lora).answer_scores(pairs), atol=1e-4
    )
    # two decoder tokens: causal self-attention over them, logits at the last one
    batch = merged.encode_sources(prompts[:3])
    dec = torch.tensor([[merged.decoder_start_id, 2000]] * 3)
    for model, reference in ((merged.model, merged.model), (part_int8, floated)):
        with torch.inference_mode():
            states = model.get_encoder()(**batch).last_hidden_state
            mask = batch["attention_mask"]
            want = reference(
                encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=dec
            ).logits[:, -1]
            got = first_step_logits(model, states, mask, dec)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
