"""Validation during training: protocol metrics of the LLM on a fixed sample of held-out rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from convrec.data.dataset import Dataset
from convrec.evaluation import rating_scale
from convrec.evaluation.metrics import explanation_metrics, ranking_metrics, rmse
from convrec.llm.backbone import Backbone
from convrec.llm.prompts import PromptBuilder
from convrec.llm.scoring import Scorer
from convrec.llm.tasks import Task


@dataclass
class ValidationSet:
    """Fixed prompts and answers of the trained tasks (built once, before training).

    Rating and explanation come from protocol A's validation rows (prompts from the builder
    fitted on A's train rows); ranking and next from protocol B's validation rows: the LLM
    re-ranks the CF engine's top-C unseen items of each user (a held-out item outside them is
    a miss), pointwise (``rank_prompts``), by title likelihood (``next_prompts``) or by the
    rerank task (``rerank_prompts``).
    """

    rating_prompts: list[str]
    rating_true: np.ndarray
    rating_range: tuple[float, float]
    rank_prompts: list[str]  # one per (user, candidate), user-major
    rank_shape: tuple[int, int]  # (users, candidates per user)
    rank_target: np.ndarray  # position of the held-out item among the candidates, -1: absent
    explain_prompts: list[str]
    explain_refs: list[str]
    explain_tokens: int = 32
    next_prompts: list[str] = field(default_factory=list)  # one per user
    next_titles: list[str] = field(default_factory=list)  # candidate titles, user-major
    rerank_prompts: list[str] = field(default_factory=list)  # one per user
    rerank_texts: list[str] = field(default_factory=list)  # candidate texts, user-major

    @property
    def cf_ndcg10(self) -> float:
        """NDCG@10 of the CF candidates' own order (the ranking reference)."""
        return _ndcg10(self.rank_target)


def build_validation(
    data: Dataset,
    tasks: list[Task],
    builders: dict[Task, PromptBuilder],
    rating_rows: np.ndarray,
    ranking_rows: np.ndarray,
    n_ratings: int,
    n_users: int,
    n_explanations: int,
    n_candidates: int,
    seed: int = 0,
    explain_tokens: int = 32,
    templates: Mapping[str, str] | None = None,
) -> ValidationSet:
    """Sample the validation rows (seeded) and render their prompts with the task's template
    in ``templates`` (task value -> template id), else its default one."""
    rng = np.random.default_rng(seed)
    chosen = dict(templates or {})

    def tpl(task: Task) -> str | None:
        return chosen.get(task.value)

    def sample(rows: np.ndarray, n: int) -> np.ndarray:
        n = min(n, len(rows))
        return np.sort(rng.choice(rows, size=n, replace=False)) if n else rows[:0]

    rr = sample(rating_rows, n_ratings) if Task.RATING in tasks else rating_rows[:0]
    er = sample(rating_rows, n_explanations) if Task.EXPLANATION in tasks else rating_rows[:0]
    ranked = [t for t in (Task.RANKING, Task.RERANK, Task.NEXT) if t in tasks]
    kr = sample(ranking_rows, n_users) if ranked else ranking_rows[:0]
    empty: list[str] = []
    rating_prompts = (
        builders[Task.RATING].prompts(Task.RATING, data.user[rr], data.item[rr], tpl(Task.RATING))
        if len(rr)
        else []
    )
    explain_prompts, refs = empty, empty
    if len(er):
        b = builders[Task.EXPLANATION]
        explain_prompts = b.prompts(
            Task.EXPLANATION, data.user[er], data.item[er], tpl(Task.EXPLANATION)
        )
        refs = [b.target(Task.EXPLANATION, int(r), session=False) for r in er]
    rank_prompts: list[str] = []
    rank_shape = (0, 0)
    rank_target = np.zeros(0, np.int64)
    next_prompts: list[str] = []
    next_titles: list[str] = []
    rerank_prompts: list[str] = []
    rerank_texts: list[str] = []
    if len(kr):
        b = builders[ranked[0]]
        assert b.neighbours is not None
        users = data.user[kr]
        history = data.user_items(b.rows, values="ones")[users]
        ids, _ = b.neighbours.recommend(history, k=n_candidates, exclude_seen=True)
        full = (ids >= 0).all(axis=1)  # users with a full candidate list
        ids, users, target = ids[full], users[full], data.item[kr][full]
        rank_shape = ids.shape
        if Task.RANKING in tasks:
            rank_prompts = b.prompts(
                Task.RANKING, np.repeat(users, ids.shape[1]), ids.ravel(), tpl(Task.RANKING)
            )
        if Task.NEXT in tasks:  # the same (B) training rows as ranking: one builder serves
            next_prompts = b.history_prompts(Task.NEXT, users, tpl(Task.NEXT))
            next_titles = [b.title(int(i)) for i in ids.ravel().tolist()]
        if Task.RERANK in tasks:
            histories = [b.history(int(u)) for u in users.tolist()]
            rerank_prompts = b.history_prompts_for(Task.RERANK, histories, tpl(Task.RERANK))
            owner = np.repeat(np.arange(len(users)), ids.shape[1])
            rerank_texts = b.candidate_texts(histories, owner, ids.ravel())
        rank_target = np.array(
            [
                int(np.flatnonzero(row == t)[0]) if t in row else -1
                for row, t in zip(ids, target, strict=True)
            ],
            np.int64,
        )
    return ValidationSet(
        rating_prompts,
        data.rating[rr].astype(np.float64),
        rating_scale(data),
        rank_prompts,
        (int(rank_shape[0]), int(rank_shape[1])),
        rank_target,
        explain_prompts,
        refs,
        explain_tokens,
        next_prompts,
        next_titles,
        rerank_prompts,
        rerank_texts,
    )


def _ndcg10(rank0: np.ndarray) -> float:
    """The protocols' NDCG@10 over ``int64[B]`` ranks, an absent target (``-1``) a miss."""
    if len(rank0) == 0:
        return 0.0
    missed = np.iinfo(np.int32).max  # ranks far past any cut-off
    return ranking_metrics(np.where(rank0 < 0, missed, rank0), ks=(10,))["ndcg@10"]


def _target_ranks(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target column (``-1``: absent); ties rank it below."""
    ranks = np.full(len(target), -1, np.int64)
    for b, t in enumerate(target):
        if t >= 0:
            ranks[b] = int((scores[b] >= scores[b, t]).sum()) - 1
    return ranks


def validate(backbone: Backbone, valid: ValidationSet, batch_size: int = 32) -> dict[str, float]:
    """Metrics of the current model: ``rmse``, ``ndcg@10`` / ``next_ndcg@10`` /
    ``rerank_ndcg@10`` (+
    ``cf_ndcg@10``), ``rougeL``..."""
    scorer = Scorer(backbone, batch_size=batch_size)
    out: dict[str, float] = {}
    if valid.rating_prompts:
        lo, hi = valid.rating_range
        pred = np.clip(scorer.ratings(valid.rating_prompts).astype(np.float64), lo, hi)
        out["rmse"] = rmse(pred, valid.rating_true)
    if valid.rank_prompts:
        scores = scorer.answer_scores(valid.rank_prompts).reshape(valid.rank_shape)
        out["ndcg@10"] = _ndcg10(_target_ranks(scores, valid.rank_target))
        out["cf_ndcg@10"] = valid.cf_ndcg10
    owner = np.repeat(np.arange(valid.rank_shape[0]), valid.rank_shape[1])
    per_user = (
        ("next_ndcg@10", valid.next_prompts, valid.next_titles, scorer.sequence_scores),
        ("rerank_ndcg@10", valid.rerank_prompts, valid.rerank_texts, scorer.cue_scores),
    )
    for name, prompts, targets, score in per_user:  # one prompt per user, read per candidate
        if prompts:
            scores = score(prompts, targets, owner).reshape(valid.rank_shape)
            out[name] = _ndcg10(_target_ranks(scores, valid.rank_target))
            out["cf_ndcg@10"] = valid.cf_ndcg10
    if valid.explain_prompts:
        texts, _ = scorer.generate(valid.explain_prompts, valid.explain_tokens)
        m = explanation_metrics(texts, valid.explain_refs)
        out.update({k: m[k] for k in ("rougeL", "bleu4", "usr")})
    return out


def main_score(metrics: dict[str, float], tasks: list[Task]) -> float:
    """Higher is better: -RMSE, NDCG@10 or ROUGE-L of the first task that was measured."""
    for task in tasks:
        if task is Task.RATING and "rmse" in metrics:
            return -metrics["rmse"]
        if task is Task.RANKING and "ndcg@10" in metrics:
            return metrics["ndcg@10"]
        if task is Task.NEXT and "next_ndcg@10" in metrics:
            return metrics["next_ndcg@10"]
        if task is Task.RERANK and "rerank_ndcg@10" in metrics:
            return metrics["rerank_ndcg@10"]
        if task is Task.EXPLANATION and "rougeL" in metrics:
            return metrics["rougeL"]
    return float("-inf")
