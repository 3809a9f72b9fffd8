"""LLM scoring, fast paths: one-step rating expectations, yes/no and rerank candidate scores,
target likelihoods with each prompt encoded once, batched generation.

The reference (naive) paths the tests and benchmarks check them against are
:mod:`convrec.llm.scoring_reference`; the decoder plumbing is :mod:`convrec.llm.decoder_heads`,
the settings and result types :mod:`convrec.llm.scoring_types` (re-exported here).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from transformers import EncoderDecoderCache, LogitsProcessorList
from transformers.modeling_outputs import BaseModelOutput

from convrec.data.titles import tidy_text
from convrec.llm.backbone import Backbone
from convrec.llm.bert_decoder import first_step_logits, folds, heads_tokens
from convrec.llm.copying import CopyNumbers, CopySlots, continues_word, marks_words
from convrec.llm.decoder_heads import answer_logits, answer_margin, cross_cache, keeps_logits
from convrec.llm.scoring_types import RATING_VALUES, Decoding, RatingScores
from convrec.llm.tasks import RANKING_ANSWERS, RERANK_CUE

__all__ = [
    "CANDIDATE_TOKENS",
    "RATING_VALUES",
    "Decoding",
    "RatingScores",
    "Scorer",
    "answer_logits",
    "answer_margin",
    "keeps_logits",
    "tidy_text",
]

CANDIDATE_TOKENS = 96
"""Token limit of a rerank candidate text read by the decoder."""


def _expectation(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over the rating tokens' scores (``float32[N, 5]``, log-probabilities or logits:
    any shift per row cancels) and the expected rating: ``float32[N, 5]``, ``float32[N]``."""
    probs = torch.softmax(torch.from_numpy(scores), dim=-1).numpy().astype(np.float32)
    return probs, (probs @ np.asarray(RATING_VALUES, np.float32)).astype(np.float32)


@lru_cache(maxsize=8)
def _not_opening_ids(tokenizer: Any) -> tuple[int, ...]:
    """Token ids a text cannot open with: special tokens and pieces that continue a word."""
    vocab = tokenizer.get_vocab()
    marked = marks_words(vocab)
    special = set(tokenizer.all_special_ids)
    out = (int(i) for p, i in vocab.items() if i in special or continues_word(p, marked))
    return tuple(sorted(out))


def _not_openings(tokenizer: Any, n: int) -> torch.Tensor:
    ids = torch.tensor(_not_opening_ids(tokenizer), dtype=torch.long)
    return ids[ids < n]


class Scorer:
    """Fast scoring paths over one :class:`Backbone` (their references:
    :class:`~convrec.llm.scoring_reference.ReferenceScorer`).

    Parameters
    ----------
    backbone : Backbone
    batch_size : int
        Prompts per encoder batch (prompts are sorted by length to limit padding).
    """

    def __init__(self, backbone: Backbone, batch_size: int = 32) -> None:
        self.backbone = backbone
        self.batch_size = batch_size
        self._rating_prefix, self._rating_ids = self._token_plan([str(v) for v in RATING_VALUES])
        self._answer_prefix, self._answer_ids = self._token_plan(list(RANKING_ANSWERS))
        self._keeps_logits = keeps_logits(backbone)
        self._heads_tokens = self._keeps_logits and heads_tokens(backbone.base_model)
        forward = inspect.signature(backbone.base_model.forward).parameters
        # the decoder cache's argument / output name: "cache" from transformers 5.24 on
        self._cache_name = "cache" if "cache" in forward else "past_key_values"

    @property
    def model(self) -> Any:
        return self.backbone.model

    @property
    def device(self) -> torch.device:
        """Device of the model's first parameter (inputs are moved there)."""
        return next(self.model.parameters()).device

    def _token_plan(self, words: list[str]) -> tuple[list[int], list[int]]:
        """Shared token prefix of ``words`` and the one distinct token of each after it."""
        seqs = self.backbone.tokenizer(words, add_special_tokens=False)["input_ids"]
        n = 0
        while all(len(s) > n for s in seqs) and len({s[n] for s in seqs}) == 1:
            n += 1
        last = [s[n] if len(s) == n + 1 else -1 for s in seqs]
        if -1 in last or len(set(last)) != len(last):
            raise ValueError(f"{words} are not single distinct tokens here: {seqs}")
        return list(seqs[0][:n]), last

    # ------------------------------------------------------------------ batching helpers
    def _batches(self, prompts: Sequence[str]) -> list[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """Prompt batches sorted by token length: (original positions, padded tensors)."""
        tok = self.backbone.tokenizer
        enc = tok(
            list(prompts),
            truncation=True,
            max_length=self.backbone.config.max_source_length,
        )["input_ids"]
        order = np.argsort([len(x) for x in enc], kind="stable")
        out = []
        for s in range(0, len(order), self.batch_size):
            idx = order[s : s + self.batch_size]
            padded = tok.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
            out.append(
                (
                    idx,
                    {k: padded[k].to(self.device) for k in ("input_ids", "attention_mask")},
                )
            )
        return out

    def _generation_config(self, max_new_tokens: int, decoding: Decoding | None = None) -> Any:
        """A copy of the model's generation config: ``max_new_tokens`` new tokens, no sampling,
        greedy unless ``decoding`` asks for beams."""
        decoding = decoding or Decoding()
        config = copy.deepcopy(self.backbone.base_model.generation_config)
        config.max_new_tokens = max_new_tokens
        config.do_sample = False
        config.num_beams = decoding.num_beams
        config.length_penalty = decoding.length_penalty
        config.no_repeat_ngram_size = decoding.no_repeat_ngram_size
        config.max_length = None
        return config

    def _encode(self, batch: dict[str, torch.Tensor]) -> Any:
        return self.model.get_encoder()(**batch)

    # ------------------------------------------------------------------ one-step scoring
    def _first_step(
        self, prompts: Sequence[str], prefix: list[int], token_ids: list[int], full: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores of ``token_ids`` after ``prefix``, one decoder step per prompt (folded
        cross-attention where the model allows it: :mod:`convrec.llm.bert_decoder`).

        ``full=False`` asks only for scores up to a shift per prompt (what a softmax over the
        T tokens or a difference of two reads): the LM head then runs at those T tokens alone
        where :func:`~convrec.llm.bert_decoder.heads_tokens` allows it.

        Returns
        -------
        scores : float32[N, T]
            Full-vocabulary log-probabilities of the T tokens (with ``full=False`` possibly
            their logits).
        top : int64[N] or None
            The full-vocabulary argmax at that step (None where the vocabulary was not headed).
        """
        scores = np.zeros((len(prompts), len(token_ids)), np.float32)
        top = np.zeros(len(prompts), np.int64)
        ids = torch.tensor(token_ids, device=self.device)
        start = [self.backbone.decoder_start_id, *prefix]
        fold = folds(self.model)
        few = fold and not full and heads_tokens(self.model)
        for idx, batch in self._batches(prompts):
            enc = self._encode(batch)
            dec = torch.tensor([start] * len(idx), device=self.device)
            mask = batch["attention_mask"]
            if fold:  # with ``few``, the T tokens' logits alone
                states = enc.last_hidden_state
                logits = first_step_logits(self.model, states, mask, dec, ids if few else None)
            else:
                out = self.model(encoder_outputs=enc, attention_mask=mask, decoder_input_ids=dec)
                logits = out.logits[:, -1, :]
            logits = logits.float()
            if few:
                scores[idx] = logits.cpu().numpy()
                continue
            scores[idx] = torch.log_softmax(logits, dim=-1)[:, ids].cpu().numpy()
            top[idx] = logits.argmax(-1).cpu().numpy()
        return scores, None if few else top

    @torch.inference_mode()
    def rating_scores(self, prompts: Sequence[str]) -> RatingScores:
        """Rating distribution from ONE decoder step per prompt, batched.

        Parameters
        ----------
        prompts : sequence of str, length N

        Returns
        -------
        RatingScores
        """
        logp, top = self._first_step(prompts, self._rating_prefix, self._rating_ids)
        assert top is not None
        probs, expected = _expectation(logp)
        mass = np.exp(logp.astype(np.float64)).sum(-1).astype(np.float32)
        return RatingScores(expected, probs, mass, top)

    @torch.inference_mode()
    def ratings(self, prompts: Sequence[str]) -> np.ndarray:
        """``float32[N]`` expected ratings (fast path): the ``expected`` of
        :meth:`rating_scores`, from the five rating tokens' logits alone where the model allows
        it (their softmax is the distribution renormalised over "1".."5")."""
        scores, _ = self._first_step(prompts, self._rating_prefix, self._rating_ids, full=False)
        return _expectation(scores)[1]

    # ------------------------------------------------------------------ candidates
    @torch.inference_mode()
    def answer_scores(self, prompts: Sequence[str]) -> np.ndarray:
        """Pointwise ranking scores: ``log P(yes) - log P(no)`` from ONE decoder step, batched.

        Parameters
        ----------
        prompts : sequence of str, length N
            Ranking prompts, one per (user, candidate).

        Returns
        -------
        numpy.ndarray
            ``float32[N]``.
        """
        scores, _ = self._first_step(prompts, self._answer_prefix, self._answer_ids, full=False)
        return (scores[:, 1] - scores[:, 0]).astype(np.float32)

    # ------------------------------------------------------------------ target likelihoods
    def _grouped(
        self, prompts: Sequence[str], owner: np.ndarray, lengths: Sequence[int]
    ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """Each prompt encoded ONCE for all its targets: ``(targets, inputs)`` chunks of
        like-length targets, ``inputs`` being the model's keyword arguments for their prompts:
        the encoder output rows and mask and, where the model keeps one, a cache holding those
        prompts' cross-attention keys / values, projected once per prompt (not per target).

        ``owner``: ``int[N]`` prompt of each target; ``lengths``: ``N`` token lengths.
        """
        owner = np.asarray(owner, np.int64)
        if owner.shape != (len(lengths),) or (
            owner.size and not 0 <= owner.min() <= owner.max() < len(prompts)
        ):
            raise ValueError(
                f"owner must be int[{len(lengths)}] indices into {len(prompts)} prompts"
            )
        by_prompt = np.argsort(owner, kind="stable")
        bounds = np.searchsorted(owner[by_prompt], np.arange(len(prompts) + 1))
        for idx, batch in self._batches(prompts):
            enc = self._encode(batch).last_hidden_state
            cross = self._cross_keys_values(enc, batch["attention_mask"])
            mine = np.concatenate([by_prompt[bounds[p] : bounds[p + 1]] for p in idx])
            row_of = np.repeat(np.arange(len(idx)), [bounds[p + 1] - bounds[p] for p in idx])
            by_length = np.argsort([lengths[t] for t in mine.tolist()], kind="stable")
            mine, row_of = mine[by_length], row_of[by_length]  # decoder chunks of like length
            step = self.batch_size * 4
            for s in range(0, len(mine), step):
                take = torch.as_tensor(row_of[s : s + step], device=self.device)
                inputs: dict[str, Any] = {
                    "attention_mask": batch["attention_mask"].index_select(0, take),
                }
                if cross is None:
                    inputs["encoder_outputs"] = (enc.index_select(0, take),)
                else:  # the decoder reads the cache; the states only give the shape (no copy)
                    inputs["encoder_outputs"] = (enc[:1].expand(len(take), -1, -1),)
                    inputs[self._cache_name] = cross_cache(cross, take)
                    inputs["use_cache"] = True
                yield mine[s : s + step], inputs

    def _cross_keys_values(
        self, states: torch.Tensor, mask: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Every decoder layer's cross-attention keys and values of the encoder ``states``
        (``[P, L, H]``), from one decoder step that fills the model's cache; None where the model
        keeps no encoder-decoder cache (each target then projects its prompt's states again)."""
        start = torch.full((len(states), 1), self.backbone.decoder_start_id, device=self.device)
        out = self.model(
            encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=start, use_cache=True
        )
        cache = out.get(self._cache_name)
        if not isinstance(cache, EncoderDecoderCache):
            return None
        pairs = []
        for layer in cache.cross_attention_cache.layers:
            keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
            if not isinstance(keys, torch.Tensor) or not isinstance(values, torch.Tensor):
                return None
            if keys.shape[0] != len(states):
                return None
            pairs.append((keys, values))
        return pairs or None

    @torch.inference_mode()
    def sequence_scores(
        self, prompts: Sequence[str], targets: Sequence[str], owner: np.ndarray
    ) -> np.ndarray:
        """``log P(target | prompt)`` (eos included), each prompt encoded ONCE for its targets.

        Parameters
        ----------
        prompts : sequence of str, length P
        targets : sequence of str, length N
            Texts scored as the decoder's output (the ``next`` task: candidate titles).
        owner : numpy.ndarray
            ``int[N]``: the prompt of each target.

        Returns
        -------
        numpy.ndarray
            ``float32[N]``: the sum of the target tokens' log-probabilities.
        """
        labels = self.backbone.encode_targets(list(targets))
        out = np.zeros(len(targets), np.float32)
        for sel, inputs in self._grouped(prompts, owner, [len(x) for x in labels]):
            out[sel] = self._label_logp(inputs, [labels[t] for t in sel.tolist()])
        return out

    def cue_inputs(self, texts: Sequence[str]) -> list[list[int]]:
        """Decoder inputs of rerank candidate texts: start token, the text's tokens (at most
        :data:`CANDIDATE_TOKENS`, its last ones kept: the cue), then the answers' shared prefix.
        The answer is predicted at the last position."""
        tok = self.backbone.tokenizer
        ids = tok(list(texts), add_special_tokens=False)["input_ids"]
        cue = tok(RERANK_CUE, add_special_tokens=False)["input_ids"]
        start, prefix = self.backbone.decoder_start_id, self._answer_prefix
        return [
            [start, *(x if len(x) <= CANDIDATE_TOKENS else x[: CANDIDATE_TOKENS - len(cue)] + cue),
             *prefix]
            for x in ids
        ]  # fmt: skip

    @torch.inference_mode()
    def cue_scores(
        self, prompts: Sequence[str], texts: Sequence[str], owner: np.ndarray
    ) -> np.ndarray:
        """Rerank scores ``log P(yes) - log P(no)`` after each candidate text, each prompt
        (a user's history) encoded ONCE for all its candidates.

        Parameters
        ----------
        prompts : sequence of str, length P
        texts : sequence of str, length N
            Candidate texts (``PromptBuilder.candidate_text``).
        owner : numpy.ndarray
            ``int[N]``: the prompt of each candidate.

        Returns
        -------
        numpy.ndarray
            ``float32[N]``.
        """
        dec = self.cue_inputs(texts)
        out = np.zeros(len(texts), np.float32)
        ids = torch.tensor(self._answer_ids, device=self.device)
        pad = self.backbone.pad_id
        for sel, inputs in self._grouped(prompts, owner, [len(x) for x in dec]):
            rows = [dec[t] for t in sel.tolist()]
            width = max(len(x) for x in rows)
            padded = torch.tensor([x + [pad] * (width - len(x)) for x in rows], device=self.device)
            last = torch.tensor([len(x) - 1 for x in rows], device=self.device)
            inputs["decoder_input_ids"] = padded
            inputs["decoder_attention_mask"] = (
                torch.arange(width, device=self.device) <= last[:, None]
            ).long()
            if self._heads_tokens:  # the two answers' logits alone
                base = self.backbone.base_model
                margin = answer_margin(self.model, base, inputs, last, self._answer_ids)
            else:
                at = answer_logits(self.model, inputs, last, self._keeps_logits).float()
                logp = torch.log_softmax(at, dim=-1)[:, ids]
                margin = logp[:, 1] - logp[:, 0]
            out[sel] = margin.cpu().numpy()
        return out

    def _label_logp(self, inputs: dict[str, Any], labels: list[list[int]]) -> np.ndarray:
        """Summed log-probabilities of each label sequence under teacher forcing, ``inputs`` being
        the model's encoder-side arguments (:meth:`_grouped`). ``float32[n]``."""
        width = max(len(x) for x in labels)
        pad = self.backbone.pad_id
        start = self.backbone.decoder_start_id
        dec = torch.tensor([[start, *x[:-1]] + [pad] * (width - len(x)) for x in labels])
        lab = torch.tensor([x + [-100] * (width - len(x)) for x in labels], device=self.device)
        real = lab != -100
        keep = {"decoder_logits_to_keep": real} if self._keeps_logits else {}
        logits = self.model(
            **inputs,
            **keep,  # the LM head at the label tokens only, not at padding
            decoder_input_ids=dec.to(self.device),
            decoder_attention_mask=real.long(),
        ).logits.float()
        if logits.dim() == 3:  # the LM head ran at every position, padding included
            logits, lab = logits[real], lab[real]
        else:  # [label tokens, vocab]: the head ran at the label tokens only
            lab = lab[real]
        # log-softmax at the label only: the label's logit minus the log partition function
        logp = logits.gather(-1, lab.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        row = torch.arange(len(labels), device=self.device).unsqueeze(1).expand_as(real)[real]
        out = torch.zeros(len(labels), device=self.device).index_add_(0, row, logp)
        return out.cpu().numpy().astype(np.float32)

    # ------------------------------------------------------------------ generation
    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[str], max_new_tokens: int = 32, decoding: Decoding | None = None
    ) -> tuple[list[str], int]:
        """Batched generation, length-limited: greedy, with numbers copied from the prompt,
        unless ``decoding`` says otherwise; texts are tidied (:func:`tidy_text`).

        With ``decoding.candidates`` C > 1, each prompt gets C texts that open differently:
        the C likeliest first tokens (under the same copy rules), each continued by the
        decoding (greedy or beams). Beam search's C best would mostly share their opening
        and so their phrasing; the first of these is the plain decoding's text whenever its
        opening is the likeliest.

        Returns
        -------
        texts : list of str, length N * ``decoding.candidates``
            Prompt-major: the candidates of prompt ``i``, likeliest opening first, are
            ``texts[i * c:(i + 1) * c]``.
        n_tokens : int
            Tokens generated in total (eos counted, padding not).
        """
        decoding = decoding or Decoding()
        c = decoding.candidates
        texts: list[str] = [""] * (len(prompts) * c)
        n_tokens = 0
        tok = self.backbone.tokenizer
        config = self._generation_config(max_new_tokens, decoding)
        for idx, batch in self._batches(prompts):
            prompt_ids = batch["input_ids"].tolist()
            inputs: dict[str, Any] = dict(batch)
            if c > 1:  # each prompt c times, its decoding opened by its c likeliest tokens
                config.max_new_tokens = max_new_tokens - 1  # the opening is the first
                enc = self._encode(batch)  # once: the openings and every candidate read it
                rules = self._rules(decoding, prompt_ids, 1)
                openings = self._openings(enc, batch["attention_mask"], rules, c)
                inputs = {k: v.repeat_interleave(c, dim=0) for k, v in batch.items()}
                states = enc.last_hidden_state.repeat_interleave(c, dim=0)
                inputs["encoder_outputs"] = BaseModelOutput(last_hidden_state=states)
                start = torch.full_like(openings, self.backbone.decoder_start_id)
                inputs["decoder_input_ids"] = torch.stack([start, openings], -1).view(-1, 2)
                prompt_ids = [ids for ids in prompt_ids for _ in range(c)]
            rules = self._rules(decoding, prompt_ids, config.num_beams)
            extra = {"logits_processor": LogitsProcessorList(rules)} if rules else {}
            gen = self.model.generate(**inputs, generation_config=config, **extra)[:, 1:].cpu()
            n_tokens += int((gen != self.backbone.pad_id).sum())
            decoded = [tidy_text(tok.decode(row, skip_special_tokens=True)) for row in gen.tolist()]
            if config.num_beams == 1:  # a text whose wanted slot was overridden is dropped
                for rule in rules:
                    for r in getattr(rule, "overridden", ()):
                        decoded[r] = ""
            for j, k in enumerate(idx.tolist()):
                texts[k * c : (k + 1) * c] = decoded[j * c : (j + 1) * c]
        return texts, n_tokens

    def _rules(self, decoding: Decoding, prompt_ids: list[list[int]], beams: int) -> list[Any]:
        """The copy rules ``decoding`` asks for, over ``beams`` rows per prompt."""
        tok = self.backbone.tokenizer
        rules: list[Any] = []
        if decoding.copy_numbers:
            rules.append(CopyNumbers(tok, prompt_ids, beams))
        if decoding.copy_slots:
            rules.append(CopySlots(tok, prompt_ids, beams))
        return rules

    def _openings(self, enc: Any, mask: torch.Tensor, rules: list[Any], c: int) -> torch.Tensor:
        """``int64[n, c]``: the ``c`` likeliest first tokens of each of the ``n`` prompts
        encoded as ``enc`` (``mask``: their ``int64[n, L]`` attention mask), likeliest first,
        after the copy ``rules``; never a special token or a word piece that continues a word."""
        start = torch.full((len(mask), 1), self.backbone.decoder_start_id, device=self.device)
        out = self.model(encoder_outputs=enc, attention_mask=mask, decoder_input_ids=start)
        logits = out.logits[:, -1, :].float()
        for rule in rules:
            logits = rule(start, logits)
        logits[:, _not_openings(self.backbone.tokenizer, logits.shape[-1])] = -float("inf")
        return logits.topk(c, dim=-1).indices
