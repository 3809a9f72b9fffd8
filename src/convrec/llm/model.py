"""LLMModel: the evaluation interface (fit, predict_ratings, score_items, explain) over the LLM."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convrec.data.dataset import Dataset
from convrec.llm.backbone import (
    Backbone,
    BackboneConfig,
    config_from,
    inference_copy,
    load_adapter,
    load_backbone,
    read_adapter_config,
)
from convrec.llm.prompts import PromptBuilder, PromptConfig, saved_prompt_config
from convrec.llm.scoring import Decoding, Scorer
from convrec.llm.scoring_types import INFERENCE_MODES
from convrec.llm.tasks import Task
from convrec.schema import ItemNeighbours

if TYPE_CHECKING:
    from convrec.llm.bank import AdapterBank


@dataclass
class LLMConfig:
    """Inference settings of :class:`LLMModel`.

    Attributes
    ----------
    backbone : BackboneConfig
    prompts : PromptConfig
    batch_size : int
        Prompts per encoder batch.
    n_candidates : int
        C, the CF engine's top-C items that ``score_items`` re-scores.
    explain_max_tokens : int
        Length limit of generated explanations.
    explain_beams, explain_length_penalty, explain_no_repeat_ngram, explain_copy_numbers,
    explain_candidates :
        Their decoding (:class:`~convrec.llm.scoring.Decoding`): greedy by default, with the
        numbers copied from the prompt (its facts) by default, one text per item (more:
        :meth:`LLMModel.explain_options`).
    templates : dict
        Task value -> template id used at inference (default: each task's default).
    inference : {"merged", "int8", "lora"}
        What scores: a copy with LoRA merged into the weights (default; same results), that
        copy with dynamic int8 linear layers (about 1.5x faster on CPU, small numeric
        differences), or the LoRA-wrapped training model itself.
    explainer : str, optional
        A subdirectory of the adapter holding a second adapter that writes the explanations
        (its own prompts, decoding and inference settings), so that an explanation skill can
        be retrained without touching the rating and ranking skills of this one
        (``convrec export --explainer``). None: this adapter explains.
    ranking : {"pointwise", "next", "rerank"}
        How candidates are scored: one ``ranking`` prompt per (user, candidate) answered
        yes / no (default), the ``next`` task (one history prompt per user, each candidate's
        title scored by its log-likelihood) or the ``rerank`` task (one history prompt per
        user, each candidate's text and CF evidence read by the decoder, then yes / no); the
        last two run the encoder once per user. ``convrec train`` records the style its tasks
        give (:attr:`~convrec.training.config.TrainConfig.ranking`).
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)
    batch_size: int = 32
    n_candidates: int = 50
    explain_max_tokens: int = 32
    explain_beams: int = 1
    explain_length_penalty: float = 1.0
    explain_no_repeat_ngram: int = 0
    explain_copy_numbers: bool = True
    explain_candidates: int = 1
    templates: dict[str, str] = field(default_factory=dict)
    inference: str = "merged"
    ranking: str = "pointwise"
    explainer: str | None = None

    def __post_init__(self) -> None:
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {INFERENCE_MODES}, got {self.inference!r}")
        if self.ranking not in RANKING_STYLES:
            raise ValueError(f"ranking must be one of {RANKING_STYLES}, got {self.ranking!r}")
        self.decoding()  # validates the explanation decoding

    def decoding(self) -> Decoding:
        """The decoding of explanations."""
        return Decoding(
            self.explain_beams,
            self.explain_length_penalty,
            self.explain_no_repeat_ngram,
            self.explain_copy_numbers,
            self.explain_candidates,
        )


RANKING_STYLES = ("pointwise", "next", "rerank")

TrainHook = Callable[["LLMModel", Dataset, np.ndarray], None]
"""``hook(model, data, rows)``, called at the end of :meth:`LLMModel.fit` to train the adapter."""


class LLMModel:
    """The LLM as an evaluation model.

    Parameters
    ----------
    config : LLMConfig, optional
    backbone : Backbone, optional
        An already loaded backbone (default: loaded from ``config.backbone`` on first fit).
    train : callable, optional
        :data:`TrainHook` run by :meth:`fit` after the prompts are built; ``None`` keeps the
        backbone as it is (e.g. a loaded adapter).
    """

    def __init__(
        self,
        config: LLMConfig | None = None,
        backbone: Backbone | None = None,
        train: TrainHook | None = None,
    ) -> None:
        self.config = config or LLMConfig()
        self.backbone = backbone
        self.train_hook = train
        self.builder = PromptBuilder(self.config.prompts)
        self.data: Dataset | None = None
        self._scorer: Scorer | None = None
        self._scored: Backbone | None = None  # the backbone _scorer was made from
        self.bank: AdapterBank | None = None  # set by from_pretrained(..., bank=...)
        self.adapter_name = "default"
        self.source: Path | None = None  # the adapter directory a banked model came from
        self.explainer: LLMModel | None = None  # writes the explanations when set

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        bank: AdapterBank | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> LLMModel:
        """Load an adapter directory written by :meth:`save_pretrained` or ``convrec train``.

        ``overrides`` replace :class:`LLMConfig` fields (e.g. ``batch_size``). With a
        ``bank`` (:class:`~convrec.llm.bank.AdapterBank`) the adapter joins the bank's shared
        backbone under ``name`` (default: the directory's name) and scores unmerged
        (``inference="lora"``). The model still needs :meth:`fit` (indexing the training
        rows for prompts) before it predicts.
        """
        path = Path(path)
        config_file = path / "convrec_config.json"
        saved = read_adapter_config(path)
        values = {**saved.get("llm", {}), **overrides}
        unknown = sorted(set(values) - {f.name for f in fields(LLMConfig)})
        if unknown:
            raise ValueError(
                f"{config_file}: unknown llm settings {unknown} (an adapter from another convrec "
                "version: retrain it with this one)"
            )
        values["backbone"] = config_from(BackboneConfig, saved["backbone"], config_file, "backbone")
        try:
            values["prompts"] = saved_prompt_config(dict(saved.get("prompts", {})))
        except (TypeError, ValueError) as err:  # e.g. a key this version does not know
            raise ValueError(f"{config_file}: bad prompts settings: {str(err)[:120]}") from None
        name = name or path.resolve().name
        if bank is None:
            model = cls(LLMConfig(**values), backbone=load_adapter(path))
        else:
            values["inference"] = "lora"
            model = cls(LLMConfig(**values), backbone=bank.attach(name, path))
            model.bank, model.adapter_name, model.source = bank, name, path
        if model.config.explainer is not None:
            model.explainer = _load_explainer(model, path, saved)
        return model

    def save_pretrained(
        self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
    ) -> Path:
        """Write the adapter (PEFT format) and ``convrec_config.json`` atomically to ``path``."""
        from convrec.llm.checkpoint import atomic_dir, save_adapter_files

        if self.source is not None:  # a banked adapter is its (unchanged) source directory
            from convrec.llm.shipped import copy_adapter

            return copy_adapter(self.source, Path(path), extra)
        bb = self.backbone
        if bb is None or not hasattr(bb.model, "peft_config"):
            raise ValueError("this LLMModel has no LoRA adapter to save")
        llm = {k: v for k, v in asdict(self.config).items() if k not in ("backbone", "prompts")}
        config = {
            **(extra or {}),
            "backbone": asdict(bb.config),
            "prompts": asdict(self.config.prompts),
            "llm": llm,
        }

        def fill(tmp: Path) -> None:
            save_adapter_files(bb.model, tmp, config)
            if self.explainer is not None and self.config.explainer is not None:
                self.explainer.save_pretrained(tmp / self.config.explainer)

        return atomic_dir(Path(path), fill)

    @property
    def scorer(self) -> Scorer:
        """The :class:`Scorer` over the current backbone (loaded on first use)."""
        if self.backbone is None:
            self.backbone = load_backbone(self.config.backbone)
        if self._scorer is None or self._scored is not self.backbone:
            backbone = self.backbone
            if self.config.inference != "lora" and hasattr(backbone.model, "peft_config"):
                backbone = inference_copy(backbone, int8=self.config.inference == "int8")
            self._scorer = Scorer(backbone, batch_size=self.config.batch_size)
            self._scored = self.backbone
        return self._scorer

    def _active(self) -> AbstractContextManager[Any]:
        """For one call: this model's adapter selected on a shared backbone (a bank's)."""
        return nullcontext() if self.bank is None else self.bank.active(self.adapter_name)

    def fit(self, data: Dataset, rows: np.ndarray, neighbours: ItemNeighbours) -> LLMModel:
        """Index the training rows for prompts and CF evidence, then run the training hook.

        Parameters
        ----------
        data : Dataset
        rows : numpy.ndarray
            ``int64[m]`` training interaction rows.
        neighbours : ItemNeighbours
            The item-kNN of the same rows with ``config.prompts.n_neighbours`` neighbours
            (a recommender hands over its own; see :meth:`PromptBuilder.fit`).
        """
        self.data = data
        self.builder.fit(data, rows, neighbours)
        if self.explainer is not None:
            self.explainer.fit(data, rows, neighbours)
        if self.train_hook is not None:
            self.train_hook(self, data, np.asarray(rows, dtype=np.int64))
            self._scorer = None  # the weights changed: score from a fresh copy
        return self

    def _template(self, task: Task) -> str | None:
        return self.config.templates.get(task.value)

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Expected rating over the tokens "1".."5".

        Parameters
        ----------
        users, items : numpy.ndarray
            ``int32[N]`` internal indices.

        Returns
        -------
        numpy.ndarray
            ``float32[N]``.
        """
        prompts = self.builder.prompts(Task.RATING, users, items, self._template(Task.RATING))
        with self._active():
            return self.scorer.ratings(prompts)

    def score_candidates(self, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """LLM score of each candidate (``config.ranking``).

        ``"pointwise"``: ``log P(yes) - log P(no)`` for "next item?", one ranking prompt per
        (user, candidate) carrying the candidate's text and its CF evidence, one decoder step
        each, batched. ``"next"``: ``log P(title | history)``, one prompt per user.
        ``"rerank"``: ``log P(yes) - log P(no)`` after the decoder read the candidate's text
        and CF evidence, one prompt per user.

        Parameters
        ----------
        users : numpy.ndarray
            ``int32[B]``.
        candidates : numpy.ndarray
            ``int32[B, C]`` item indices, ``-1`` for padding.

        Returns
        -------
        numpy.ndarray
            ``float32[B, C]``, ``-inf`` at padding.
        """
        users = np.asarray(users)
        return self._score(
            candidates,
            [self.builder.history(int(u)) for u in users.tolist()],
            lambda rows, items, tpl: self.builder.prompts(Task.RANKING, users[rows], items, tpl),
        )

    def score_candidates_for(
        self, histories: list[tuple[np.ndarray, np.ndarray]], candidates: np.ndarray
    ) -> np.ndarray:
        """:meth:`score_candidates` for explicit histories (a new session: no user index).

        Parameters
        ----------
        histories : list of (int32[h], float32[h])
            Per row of ``candidates``: items (newest first) and the ratings they stand for.
        candidates : numpy.ndarray
            ``int32[B, C]``, ``-1`` for padding.

        Returns
        -------
        numpy.ndarray
            ``float32[B, C]``, ``-inf`` at padding.
        """
        return self._score(
            candidates,
            histories,
            lambda rows, items, tpl: self.builder.prompts_for(
                Task.RANKING, [histories[b] for b in rows.tolist()], items, tpl
            ),
        )

    def _score(
        self,
        candidates: np.ndarray,
        histories: list[tuple[np.ndarray, np.ndarray]],
        pair_prompts: Callable[[np.ndarray, np.ndarray, str | None], list[str]],
    ) -> np.ndarray:
        """Scores of the valid candidates (``config.ranking``): pointwise prompts per (row,
        candidate) from ``pair_prompts``, or one history prompt per row followed by each
        candidate's title (next) or candidate text (rerank)."""
        candidates = np.asarray(candidates)
        if candidates.ndim != 2 or len(candidates) != len(histories):
            raise ValueError(f"candidates must be int32[B, C] with B = {len(histories)}")
        rows, cols = np.nonzero(candidates >= 0)
        items = candidates[rows, cols]
        out = np.full(candidates.shape, -np.inf, np.float32)
        if len(items) == 0:  # nothing to score (e.g. filters left no candidate)
            return out
        b = self.builder
        with self._active():
            if self.config.ranking == "next":
                prompts = b.history_prompts_for(Task.NEXT, histories, self._template(Task.NEXT))
                titles = [b.title(int(i)) for i in items.tolist()]
                out[rows, cols] = self.scorer.sequence_scores(prompts, titles, rows)
            elif self.config.ranking == "rerank":
                tpl = self._template(Task.RERANK)
                prompts = b.history_prompts_for(Task.RERANK, histories, tpl)
                texts = b.candidate_texts(histories, rows, items)
                out[rows, cols] = self.scorer.cue_scores(prompts, texts, rows)
            else:
                prompts = pair_prompts(rows, items, self._template(Task.RANKING))
                out[rows, cols] = self.scorer.answer_scores(prompts)
        return out

    def cf_candidates(self, users: np.ndarray) -> np.ndarray:
        """The CF engine's top-C unseen items per user (item-kNN over the training history, as
        training and validation see it), ``int32[B, C]`` padded with -1."""
        if self.data is None:
            raise RuntimeError("LLMModel is not fitted")
        histories = [self.builder.history(int(u))[0] for u in np.asarray(users).tolist()]
        return self.builder.cf_top(histories, self.config.n_candidates)

    def score_items(self, users: np.ndarray) -> np.ndarray:
        """Scores over all items: LLM scores on the CF top-C candidates, ``-inf`` elsewhere.

        Returns
        -------
        numpy.ndarray
            ``float32[B, n_items]``.
        """
        assert self.data is not None
        cands = self.cf_candidates(users)
        scores = self.score_candidates(users, cands)
        out = np.full((len(users), self.data.n_items), -np.inf, np.float32)
        rows, cols = np.nonzero(cands >= 0)
        out[rows, cands[rows, cols]] = scores[rows, cols]
        return out

    @property
    def fact_slots(self) -> bool:
        """Whether explanations are written with slot names (``"close to [ta]: ..."``) that
        the caller fills from the item's facts (:func:`convrec.facts.render.fill_slots`):
        the prompts were trained with :attr:`PromptConfig.fact_slots` and the explanation
        template shows the facts."""
        if self.explainer is not None:
            return self.explainer.fact_slots
        template = self.builder.registry[
            self._template(Task.EXPLANATION) or self.builder.registry.default(Task.EXPLANATION).id
        ]
        return self.config.prompts.fact_slots and "facts" in template.placeholders

    def explain(self, users: np.ndarray, items: np.ndarray) -> list[str]:
        """One generated explanation per (user, item), at most ``explain_max_tokens`` tokens
        (with slot names where :attr:`fact_slots`): the best of :meth:`explain_options`."""
        return [texts[0] for texts in self.explain_options(users, items)]

    def explain_for(
        self, histories: list[tuple[np.ndarray, np.ndarray]], items: np.ndarray
    ) -> list[str]:
        """:meth:`explain` for explicit histories (see :meth:`score_candidates_for`)."""
        return [texts[0] for texts in self.explain_options_for(histories, items)]

    def explain_options(self, users: np.ndarray, items: np.ndarray) -> list[list[str]]:
        """``explain_candidates`` generated explanations per (user, item), each opened by
        another likely first word, likeliest first (:meth:`Scorer.generate`); written by the
        :attr:`explainer` where there is one."""
        if self.explainer is not None:
            return self.explainer.explain_options(users, items)
        task = Task.EXPLANATION
        return self._generate(self.builder.prompts(task, users, items, self._template(task)))

    def explain_options_for(
        self, histories: list[tuple[np.ndarray, np.ndarray]], items: np.ndarray
    ) -> list[list[str]]:
        """:meth:`explain_options` for explicit histories (see :meth:`score_candidates_for`)."""
        if self.explainer is not None:
            return self.explainer.explain_options_for(histories, items)
        task = Task.EXPLANATION
        prompts = self.builder.prompts_for(task, histories, items, self._template(task))
        return self._generate(prompts)

    def _generate(self, prompts: list[str]) -> list[list[str]]:
        decoding = replace(self.config.decoding(), copy_slots=self.fact_slots)
        with self._active():
            texts, _ = self.scorer.generate(prompts, self.config.explain_max_tokens, decoding)
        c = decoding.candidates
        return [texts[i * c : (i + 1) * c] for i in range(len(prompts))]


def _load_explainer(model: LLMModel, path: Path, saved: dict[str, Any]) -> LLMModel:
    """The adapter in ``path / model.config.explainer`` (:attr:`LLMConfig.explainer`), checked
    to be trained on the same data and to read the same item-kNN (the two share ``fit``).

    It loads on its own backbone, never into a bank: it scores with its own inference
    setting (an int8 copy for the shipped one), which a bank's unmerged LoRA would not."""
    assert model.config.explainer is not None
    folder = path / model.config.explainer
    where = f"{path / 'convrec_config.json'}: llm.explainer {model.config.explainer!r}"
    if Path(model.config.explainer).is_absolute() or ".." in Path(model.config.explainer).parts:
        raise ValueError(f"{where} must name a subdirectory of the adapter")
    if not (folder / "convrec_config.json").is_file():
        raise ValueError(
            f"{where} is not an adapter directory ({folder} has no convrec_config.json)"
        )
    own = read_adapter_config(folder)
    if own.get("llm", {}).get("explainer"):
        raise ValueError(f"{where}: an explainer cannot have an explainer of its own")
    data, own_data = saved.get("data", {}).get("name"), own.get("data", {}).get("name")
    if data != own_data:
        raise ValueError(f"{where} was trained on {own_data!r}, the adapter on {data!r}")
    explainer = LLMModel.from_pretrained(folder)
    k, own_k = model.config.prompts.n_neighbours, explainer.config.prompts.n_neighbours
    if k != own_k:
        raise ValueError(f"{where} reads {own_k} neighbours per item, the adapter {k}")
    return explainer
