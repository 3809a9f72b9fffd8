"""LLM scoring, reference paths: unbatched forwards and generation, oracles of the fast paths.

Each method of :class:`ReferenceScorer` computes what the :class:`~convrec.llm.scoring.Scorer`
method of the same name computes, the slow and obvious way (one prompt or target at a time,
the encoder run again each time); the tests and ``benchmarks/bench_llm.py`` compare the two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from convrec.llm.scoring import Scorer

_DIGIT = re.compile(r"[1-5]")


class ReferenceScorer:
    """The naive paths over the backbone and token plans of a fast :class:`Scorer`.

    Parameters
    ----------
    scorer : Scorer
    """

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.backbone = scorer.backbone

    @property
    def model(self) -> Any:
        return self.scorer.model

    @property
    def device(self) -> torch.device:
        """Device of the model's first parameter (inputs are moved there)."""
        return self.scorer.device

    @torch.inference_mode()
    def ratings(self, prompts: Sequence[str]) -> tuple[np.ndarray, list[list[int]]]:
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
            config = self.scorer._generation_config(len(self.scorer._rating_prefix) + 2)
            gen = self.model.generate(**batch, generation_config=config)[0].tolist()
            gen = gen[1:]
            tokens.append(gen)
            text = self.backbone.tokenizer.decode(gen, skip_special_tokens=True)
            m = _DIGIT.search(text)
            if m:
                out[k] = float(m.group())
        return out, tokens

    @torch.inference_mode()
    def answer_scores(self, prompts: Sequence[str]) -> np.ndarray:
        """Reference path: one unbatched encoder-decoder forward per prompt. ``float32[N]``."""
        start = [self.backbone.decoder_start_id, *self.scorer._answer_prefix]
        return np.array([self._answer_alone(p, start) for p in prompts], np.float32)

    def _answer_alone(self, prompt: str, decoder_inputs: list[int]) -> float:
        """``log P(yes) - log P(no)`` after ``decoder_inputs``: one unbatched full forward."""
        batch = {k: v.to(self.device) for k, v in self.backbone.encode_sources([prompt]).items()}
        dec = torch.tensor([decoder_inputs], device=self.device)
        logits = self.model(**batch, decoder_input_ids=dec).logits[0, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        return float(logp[self.scorer._answer_ids[1]] - logp[self.scorer._answer_ids[0]])

    @torch.inference_mode()
    def cue_scores(
        self, prompts: Sequence[str], texts: Sequence[str], owner: np.ndarray
    ) -> np.ndarray:
        """Reference path of :meth:`Scorer.cue_scores`: one unbatched forward (encoder included) per
        candidate. ``float32[N]``."""
        pairs = zip(self.scorer.cue_inputs(texts), np.asarray(owner).tolist(), strict=True)
        return np.array([self._answer_alone(prompts[p], dec) for dec, p in pairs], np.float32)

    @torch.inference_mode()
    def sequence_scores(
        self, prompts: Sequence[str], targets: Sequence[str], owner: np.ndarray
    ) -> np.ndarray:
        """Reference path of :meth:`Scorer.sequence_scores`: one unbatched forward (encoder
        included) per target. ``float32[N]``."""
        out = np.zeros(len(targets), np.float32)
        for n, (target, p) in enumerate(zip(targets, np.asarray(owner).tolist(), strict=True)):
            batch = {
                k: v.to(self.device) for k, v in self.backbone.encode_sources([prompts[p]]).items()
            }
            labels = torch.tensor(self.backbone.encode_targets([target]), device=self.device)
            start = labels.new_tensor([[self.backbone.decoder_start_id]])
            dec = torch.cat([start, labels[:, :-1]], 1)
            logits = self.model(**batch, decoder_input_ids=dec).logits[0].float()
            logp = torch.log_softmax(logits, dim=-1)
            out[n] = float(logp.gather(-1, labels[0].unsqueeze(-1)).sum())
        return out
