"""LLM scoring: one-step rating expectations, cached candidate likelihoods, batched generation."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convrec.llm.backbone import Backbone

RATING_VALUES = (1, 2, 3, 4, 5)
_DIGIT = re.compile(r"[1-5]")


@dataclass(frozen=True)
class RatingScores:
    """Result of :meth:`Scorer.rating_scores`.

    Attributes
    ----------
    expected : numpy.ndarray
        ``float32[N]`` expected rating under the distribution renormalised over "1".."5".
    probs : numpy.ndarray
        ``float32[N, 5]`` that distribution.
    mass : numpy.ndarray
        ``float32[N]`` full-vocabulary probability the model gives the rating tokens.
    top_token : numpy.ndarray
        ``int64[N]`` the full-vocabulary argmax token at that step (what greedy decoding emits).
    """

    expected: np.ndarray
    probs: np.ndarray
    mass: np.ndarray
    top_token: np.ndarray


class Scorer:
    """Fast and naive (reference) scoring paths over one :class:`Backbone`.

    Parameters
    ----------
    backbone : Backbone
    batch_size : int
        Prompts per encoder batch (prompts are sorted by length to limit padding).
    pair_batch : int
        (prompt, candidate) pairs per decoder batch in candidate scoring.
    """

    def __init__(self, backbone: Backbone, batch_size: int = 32, pair_batch: int = 128) -> None:
        self.backbone = backbone
        self.batch_size = batch_size
        self.pair_batch = pair_batch
        self._target_cache: dict[str, list[int]] = {}
        self._rating_prefix, self._rating_ids = self._rating_plan()

    @property
    def model(self) -> Any:
        return self.backbone.model

    @property
    def device(self) -> torch.device:
        """Device of the model's first parameter (inputs are moved there)."""
        return next(self.model.parameters()).device

    def _rating_plan(self) -> tuple[list[int], list[int]]:
        """Shared token prefix of "1".."5" and the one distinct token of each after it."""
        seqs = self.backbone.tokenizer([str(v) for v in RATING_VALUES], add_special_tokens=False)[
            "input_ids"
        ]
        n = 0
        while all(len(s) > n for s in seqs) and len({s[n] for s in seqs}) == 1:
            n += 1
        last = [s[n] if len(s) == n + 1 else -1 for s in seqs]
        if -1 in last or len(set(last)) != len(last):
            raise ValueError(f"rating strings are not single distinct tokens here: {seqs}")
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

    def _targets(self, text: str) -> list[int]:
        ids = self._target_cache.get(text)
        if ids is None:
            ids = self._target_cache[text] = self.backbone.encode_targets([text])[0]
        return ids

    def _greedy(self, max_new_tokens: int) -> Any:
        """A copy of the model's generation config: greedy, ``max_new_tokens`` new tokens."""
        config = copy.deepcopy(self.backbone.base_model.generation_config)
        config.max_new_tokens = max_new_tokens
        config.do_sample = False
        config.num_beams = 1
        config.max_length = None
        return config

    def _encode(self, batch: dict[str, torch.Tensor]) -> Any:
        return self.model.get_encoder()(**batch)

    # ------------------------------------------------------------------ rating
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
        n = len(prompts)
        probs = np.zeros((n, len(RATING_VALUES)), np.float32)
        mass = np.zeros(n, np.float32)
        top = np.zeros(n, np.int64)
        ids = torch.tensor(self._rating_ids, device=self.device)
        start = [self.backbone.decoder_start_id, *self._rating_prefix]
        for idx, batch in self._batches(prompts):
            enc = self._encode(batch)
            dec = torch.tensor([start] * len(idx), device=self.device)
            logits = (
                self.model(
                    encoder_outputs=enc,
                    attention_mask=batch["attention_mask"],
                    decoder_input_ids=dec,
                )
                .logits[:, -1, :]
                .float()
            )
            logp = torch.log_softmax(logits, dim=-1)
            sel = logp[:, ids]
            probs[idx] = torch.softmax(sel, dim=-1).cpu().numpy()
            mass[idx] = sel.exp().sum(-1).cpu().numpy()
            top[idx] = logits.argmax(-1).cpu().numpy()
        expected = (probs @ np.asarray(RATING_VALUES, np.float32)).astype(np.float32)
        return RatingScores(expected, probs, mass, top)

    def ratings(self, prompts: Sequence[str]) -> np.ndarray:
        """``float32[N]`` expected ratings (fast path)."""
        return self.rating_scores(prompts).expected

    @torch.inference_mode()
    def ratings_naive(self, prompts: Sequence[str]) -> tuple[np.ndarray, list[list[int]]]:
        """Reference path: greedy generation per prompt, parse the first digit 1-5.

        Returns
        -------
        ratings : float32[N]
            Parsed rating, NaN where the text holds no digit 1-5.
        tokens : list of list of int
            Generated token ids of each prompt (without the decoder start token).
        """
        out = np.full(len(prompts), np.nan, np.float32)
        tokens: list[list[int]] = []
        for k, prompt in enumerate(prompts):
            batch = self.backbone.encode_sources([prompt])
            config = self._greedy(len(self._rating_prefix) + 2)
            gen = self.model.generate(**batch, generation_config=config)[0].tolist()
            gen = gen[1:]
            tokens.append(gen)
            text = self.backbone.tokenizer.decode(gen, skip_special_tokens=True)
            m = _DIGIT.search(text)
            if m:
                out[k] = float(m.group())
        return out, tokens

    # ------------------------------------------------------------------ candidates
    @torch.inference_mode()
    def candidate_scores(
        self, prompts: Sequence[str], candidates: Sequence[Sequence[str]], reduce: str = "sum"
    ) -> np.ndarray:
        """Log-likelihood of each candidate text given its prompt; encoder once per prompt.

        The decoder start step (and the cross-attention keys/values) are computed once per
        prompt and shared by all its candidates through the KV cache; the candidates then
        run as one batched decoder pass per ``pair_batch`` pairs.

        Parameters
        ----------
        prompts : sequence of str, length N
        candidates : sequence of sequences of str
            ``candidates[n]`` are the texts to score for prompt n (ragged).
        reduce : {"sum", "mean"}
            Sum of token log-probabilities, or their mean (length-normalised).

        Returns
        -------
        numpy.ndarray
            ``float32[N, C_max]``, padded with ``-inf``.
        """
        from transformers import EncoderDecoderCache

        if len(candidates) != len(prompts):
            raise ValueError("one candidate list per prompt")
        width = max((len(c) for c in candidates), default=0)
        out = np.full((len(prompts), width), -np.inf, np.float32)
        for idx, batch in self._batches(prompts):
            enc = self._encode(batch)
            start = torch.full((len(idx), 1), self.backbone.decoder_start_id, device=self.device)
            first = self.model(
                encoder_outputs=enc,
                attention_mask=batch["attention_mask"],
                decoder_input_ids=start,
                use_cache=True,
            )
            logp0 = torch.log_softmax(first.logits[:, 0, :].float(), dim=-1)
            cache = first.past_key_values
            pairs = [(b, c) for b, n in enumerate(idx) for c in range(len(candidates[n]))]
            for s in range(0, len(pairs), self.pair_batch):
                chunk = pairs[s : s + self.pair_batch]
                rows = torch.tensor([b for b, _ in chunk], device=self.device)
                seqs = [self._targets(candidates[idx[b]][c]) for b, c in chunk]
                length = max(len(x) for x in seqs)
                tgt = torch.full((len(chunk), length), -1, device=self.device)
                for j, x in enumerate(seqs):
                    tgt[j, : len(x)] = torch.tensor(x)
                total = logp0[rows, tgt[:, 0]]
                if length > 1:
                    past = EncoderDecoderCache(
                        _select(cache.self_attention_cache, rows),
                        _select(cache.cross_attention_cache, rows),
                    )
                    hidden = enc[0][rows]
                    dec_in = tgt[:, :-1].clamp(min=0)
                    logits = self.model(
                        encoder_outputs=(hidden,),
                        attention_mask=batch["attention_mask"][rows],
                        decoder_input_ids=dec_in,
                        past_key_values=past,
                        use_cache=True,
                    ).logits.float()
                    total = total + _gather_logp(logits, tgt[:, 1:])
                lengths = torch.tensor(
                    [len(x) for x in seqs], dtype=torch.float32, device=self.device
                )
                score = total / lengths if reduce == "mean" else total
                for (b, c), v in zip(chunk, score.tolist(), strict=True):
                    out[idx[b], c] = v
        return out

    @torch.inference_mode()
    def candidate_scores_naive(
        self, prompts: Sequence[str], candidates: Sequence[Sequence[str]], reduce: str = "sum"
    ) -> np.ndarray:
        """Reference path: one full encoder-decoder forward per (prompt, candidate)."""
        width = max((len(c) for c in candidates), default=0)
        out = np.full((len(prompts), width), -np.inf, np.float32)
        for n, prompt in enumerate(prompts):
            batch = self.backbone.encode_sources([prompt])
            for c, text in enumerate(candidates[n]):
                tgt = torch.tensor([self._targets(text)])
                dec = torch.cat([torch.tensor([[self.backbone.decoder_start_id]]), tgt[:, :-1]], 1)
                logits = self.model(**batch, decoder_input_ids=dec).logits.float()
                total = float(_gather_logp(logits, tgt)[0])
                out[n, c] = total / tgt.shape[1] if reduce == "mean" else total
        return out

    # ------------------------------------------------------------------ generation
    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], max_new_tokens: int = 32) -> tuple[list[str], int]:
        """Greedy batched generation, length-limited.

        Returns
        -------
        texts : list of str, length N
        n_tokens : int
            Tokens generated in total (eos counted, padding not).
        """
        texts: list[str] = [""] * len(prompts)
        n_tokens = 0
        tok = self.backbone.tokenizer
        config = self._greedy(max_new_tokens)
        for idx, batch in self._batches(prompts):
            gen = self.model.generate(**batch, generation_config=config)[:, 1:].cpu()
            n_tokens += int((gen != self.backbone.pad_id).sum())
            for k, row in zip(idx, gen.tolist(), strict=True):
                texts[k] = tok.decode(row, skip_special_tokens=True).strip()
        return texts, n_tokens


def _select(cache: Any, rows: torch.Tensor) -> Any:
    """A new DynamicCache holding the given batch rows of every layer."""
    from transformers import DynamicCache

    new = DynamicCache()
    for layer_idx, layer in enumerate(cache.layers):
        new.update(layer.keys[rows], layer.values[rows], layer_idx)
    return new


def _gather_logp(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over positions of log p(target); targets < 0 are padding. float32[B]."""
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * (targets >= 0)).sum(-1)
