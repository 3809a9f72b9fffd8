"""Settings and results of LLM scoring: the rating values, generation decoding, rating scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATING_VALUES = (1, 2, 3, 4, 5)
"""The rating tokens a rating prompt is scored over."""

INFERENCE_MODES = ("merged", "int8", "lora")
"""What scores (:attr:`~convrec.llm.model.LLMConfig.inference`): the LoRA-merged copy, that
copy with dynamic int8 linear layers, or the LoRA-wrapped model itself."""


@dataclass(frozen=True)
class Decoding:
    """How explanations are generated (Hugging Face generation settings).

    Attributes
    ----------
    num_beams : int
        1 is greedy decoding; more runs beam search.
    length_penalty : float
        Beam scores are divided by ``length ** length_penalty`` (beam search only).
    no_repeat_ngram_size : int
        > 0: no n-gram of that size occurs twice in one text.
    copy_numbers : bool
        Numbers are copied from the prompt (default): a digit may only continue a number the
        prompt contains (:class:`~convrec.llm.copying.CopyNumbers`).
    copy_slots : bool
        Slot names are copied from the prompt (:class:`~convrec.llm.copying.CopySlots`): set
        for a model that writes slot names (:attr:`PromptConfig.fact_slots`). In greedy
        decoding a text is dropped (returned empty) where the model's own choice was a slot
        its prompt lacks.
    candidates : int
        Texts returned per prompt, each opened by another of the prompt's likeliest first
        tokens, likeliest first (:meth:`~convrec.llm.scoring.Scorer.generate`). The
        recommender shows, of those that pass the fact check, the first that names a liked
        title and is worded anew in its list (then: names one, worded anew, any), never a
        sentence the list already shows.
    """

    num_beams: int = 1
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    copy_numbers: bool = True
    candidates: int = 1
    copy_slots: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.num_beams, bool) or not isinstance(self.num_beams, int):
            raise ValueError(f"num_beams must be an integer, got {self.num_beams!r}")
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {self.num_beams}")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int):
            raise ValueError(f"candidates must be an integer, got {self.candidates!r}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")
        if not np.isfinite(self.length_penalty):
            raise ValueError(f"length_penalty must be finite, got {self.length_penalty!r}")
        if not isinstance(self.no_repeat_ngram_size, int) or self.no_repeat_ngram_size < 0:
            raise ValueError(
                f"no_repeat_ngram_size must be an integer >= 0, got {self.no_repeat_ngram_size!r}"
            )


@dataclass(frozen=True)
class RatingScores:
    """Result of :meth:`convrec.llm.scoring.Scorer.rating_scores`.

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
