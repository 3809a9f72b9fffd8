"""Evaluation protocols A (rating), B (top-K ranking) and C (reviews): one runner for any model."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from convrec import progress
from convrec.cf.scoring import rank_top_k
from convrec.data.dataset import Dataset
from convrec.evaluation.metrics import (
    diversity_metrics,
    explanation_metrics,
    ranking_metrics,
    rating_metrics,
)
from convrec.evaluation.specs import (
    LLM_NAME,
    MODEL_GROUPS,
    PROTOCOLS,
    ModelSpec,
    default_models,
    llm_spec,
    model_names,
    parse_model_selection,
    ranks,
    reference_models,
    select_models,
)
from convrec.evaluation.splits import Split, leave_last_out_split, random_split
from convrec.storage import write_json_atomic

DIVERSITY_K = 10
"""Length of the test lists whose diversity and popularity the ranking protocols report."""


class RatingModel(Protocol):
    """Anything that predicts ratings after being fitted on interaction rows."""

    def fit(self, data: Dataset, rows: np.ndarray) -> Any: ...

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


class RankingModel(Protocol):
    """Anything that scores every item for a batch of users."""

    def fit(self, data: Dataset, rows: np.ndarray) -> Any: ...

    def score_items(self, users: np.ndarray) -> np.ndarray: ...


class ExplanationModel(Protocol):
    """Anything that writes one explanation per (user, item)."""

    def fit(self, data: Dataset, rows: np.ndarray) -> Any: ...

    def explain(self, users: np.ndarray, items: np.ndarray) -> list[str]: ...


@dataclass
class EvalReport:
    """Everything one protocol run measured; :meth:`to_json` gives the documented shape."""

    data: str
    protocol: str
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    """Per model: seconds in ``fit`` (every grid point on train, then the final refit)."""
    score_seconds: dict[str, float] = field(default_factory=dict)
    """Per model: seconds scoring the validation (grid search) and test rows."""
    split: dict[str, dict[str, int]] = field(default_factory=dict)
    diversity: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per ranking model: ILD, catalog coverage and mean popularity of its test top-10 lists."""
    diversity_features: str | None = None
    """What ILD's item vectors are: ``"genres"`` or ``"co-occurrence"`` (who chose the item)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "data": self.data,
            "protocol": self.protocol,
            "models": self.models,
            "params": self.params,
            "seconds": self.seconds,
            "fit_seconds": self.fit_seconds,
            "score_seconds": self.score_seconds,
            "split": self.split,
        }
        if self.diversity:
            out["diversity"] = self.diversity
            out["diversity_features"] = self.diversity_features
        return out

    def write_json(self, path: str | Path) -> None:
        """Write atomically (a temporary file renamed into place)."""
        write_json_atomic(path, self.to_json())

    def table(self) -> str:
        """Plain-text tables: accuracy (one row per model) with its fit and scoring seconds,
        then the diversity block."""
        timed = {
            name: {**values, **_times(self.fit_seconds, self.score_seconds, name)}
            for name, values in self.models.items()
        }
        lines = [f"{self.data} - protocol {self.protocol}", *_rows(timed)]
        if self.diversity:
            lines += [
                "",
                f"diversity and popularity of the test top-{DIVERSITY_K} "
                f"(ILD over item {self.diversity_features}; pop = mean training count)",
                *_rows(self.diversity),
            ]
        return "\n".join(lines)


def _rows(table: Mapping[str, Mapping[str, float]]) -> list[str]:
    metrics: list[str] = []
    for values in table.values():
        metrics += [m for m in values if m not in metrics]
    width = max([len("model"), *(len(n) for n in table)])
    lines = ["  ".join(["model".ljust(width), *(m.rjust(8) for m in metrics)])]
    for name, values in table.items():
        cells = [_cell(values.get(m)).rjust(max(8, len(m))) for m in metrics]
        lines.append("  ".join([name.ljust(width), *cells]))
    return lines


def _times(fit: Mapping[str, float], score: Mapping[str, float], name: str) -> dict[str, float]:
    """The table's time columns of model ``name`` (none when it was not timed)."""
    out = {}
    if name in fit:
        out["fit s"] = fit[name]
    if name in score:
        out["score s"] = score[name]
    return out


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def run_protocol(
    data: Dataset,
    protocol: str,
    models: Iterable[ModelSpec],
    *,
    log: Callable[[str], None] = lambda _msg: None,
) -> EvalReport:
    """Run protocol ``"A"``, ``"B"`` or ``"C"`` of PROTOCOL.md for each model.

    A model is scored on every task whose method it has: ``predict_ratings``
    (rating, random split), ``score_items`` (ranking, leave-last-out; not for rating
    models, see :func:`~convrec.evaluation.specs.ranks`) and
    ``explain`` (explanation, random split; protocol C only).
    """
    protocol = protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if protocol == "S":
        raise ValueError("protocol S reports one table per session size: use run_sessions")
    if protocol == "C" and data.summary is None:
        raise ValueError(
            f"protocol C needs review summaries (Amazon review data); {data.name} has none"
        )
    report = EvalReport(data=data.name, protocol=protocol)
    rating_split = random_split(data) if protocol in ("A", "C") else None
    ranking_split = leave_last_out_split(data) if protocol in ("B", "C") else None
    for label, split in (("random", rating_split), ("leave_last_out", ranking_split)):
        if split is not None:
            report.split[label] = {p: len(split.part(p)) for p in ("train", "valid", "test")}
    for spec in models:
        start = time.perf_counter()
        probe = spec.factory(**dict(spec.grid[0]))
        metrics: dict[str, float] = {}
        chosen: dict[str, Any] = {}
        clock = _Clock(spec.name)
        if spec.sample is not None:
            chosen["sample"] = spec.sample
            log(f"{spec.name}: scored on a seeded sample of at most {spec.sample} test rows")
        if rating_split is not None and hasattr(probe, "predict_ratings"):
            values, params = _select_and_test(spec, data, rating_split, _rating_task, clock)
            metrics.update(values)
            chosen.update(params)
        if ranking_split is not None and ranks(probe):
            values, params = _select_and_test(spec, data, ranking_split, _ranking_task, clock)
            metrics.update(values)
            for key, value in params.items():  # C: the rating choice keeps its own entry
                if key in chosen and chosen[key] != value:
                    chosen[f"rating_{key}"] = chosen[key]
                chosen[key] = value
        if protocol == "C" and rating_split is not None and hasattr(probe, "explain"):
            values, params = _select_and_test(spec, data, rating_split, _explanation_task, clock)
            metrics.update(values)
            chosen.update(params)
        if not metrics:
            log(f"{spec.name}: no method this protocol can score, skipped")
            continue
        spread = {m: metrics.pop(m) for m in list(metrics) if m in _DIVERSITY_KEYS}
        if spread:
            report.diversity[spec.name] = spread
            report.diversity_features = "genres" if _genres(data) else "co-occurrence"
        report.models[spec.name] = metrics
        report.params[spec.name] = chosen
        report.seconds[spec.name] = round(time.perf_counter() - start, 3)
        report.fit_seconds[spec.name] = round(clock.fit, 3)
        report.score_seconds[spec.name] = round(clock.score, 3)
        log(f"{spec.name}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return report


Task = Callable[..., dict[str, float]]
"""``task(model, data, split, part, *, desc)``: the metrics of ``model`` on ``part`` (``desc``
names its progress bar)."""


@dataclass
class _Clock:
    """Seconds one model spent fitting and scoring, over every task and grid point."""

    name: str
    fit: float = 0.0
    score: float = 0.0

    def fitted(self, spec: ModelSpec, params: Mapping[str, Any], data: Dataset,
               rows: np.ndarray) -> Any:  # fmt: skip
        """``spec``'s model with ``params``, fitted on ``rows``."""
        start = time.perf_counter()
        model = spec.factory(**dict(params)).fit(data, rows)
        self.fit += time.perf_counter() - start
        return model

    def scored(self, task: Task, model: Any, data: Dataset, split: Split,
               part: str) -> dict[str, float]:  # fmt: skip
        """``task``'s metrics of ``model`` on ``part``, a progress bar named after the model."""
        start = time.perf_counter()
        metrics = task(model, data, split, part, desc=f"{self.name} {part}")
        self.score += time.perf_counter() - start
        return metrics


def _select_and_test(
    spec: ModelSpec, data: Dataset, split: Split, task: Task, clock: _Clock
) -> tuple[dict[str, float], dict[str, Any]]:
    """Pick the grid point by validation, refit on train+valid, score on test."""
    key, lower_is_better = _SELECTION[task]
    best: tuple[float, dict[str, Any]] | None = None
    if spec.sample is not None:
        split = _sampled(split, spec.sample)
    if len(spec.grid) > 1:
        for point in spec.grid:
            model = clock.fitted(spec, point, data, split.train)
            value = clock.scored(task, model, data, split, "valid")[key]
            value = value if lower_is_better else -value
            if best is None or value < best[0]:
                best = (value, dict(point))
    params = best[1] if best is not None else dict(spec.grid[0])
    model = clock.fitted(spec, params, data, split.part("train+valid"))
    return clock.scored(task, model, data, split, "test"), params


def _sampled(split: Split, n: int) -> Split:
    """The split with its valid and test parts cut to seeded samples of ``n`` rows (order kept).

    Train+valid (the final fit) keeps every valid row.
    """

    def cut(rows: np.ndarray) -> np.ndarray:
        if len(rows) <= n:
            return rows
        return rows[np.sort(np.random.default_rng(0).choice(len(rows), size=n, replace=False))]

    return _SampledSplit(split.kind, split.train, cut(split.valid), cut(split.test), split.valid)


@dataclass(frozen=True)
class _SampledSplit(Split):
    """A split scored on samples; ``train+valid`` (the final fit and test history) stays whole."""

    full_valid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def part(self, name: str) -> np.ndarray:
        if name == "train+valid":
            return np.concatenate([self.train, self.full_valid])
        return super().part(name)


def _rating_task(
    model: Any, data: Dataset, split: Split, part: str, *, desc: str = "rating"
) -> dict[str, float]:
    rows = split.part(part)
    lo, hi = rating_scale(data)
    with progress.running(len(rows), desc=desc, unit="ratings"):
        predicted = model.predict_ratings(data.user[rows], data.item[rows])
    predicted = np.asarray(predicted, np.float64)
    if predicted.shape != (len(rows),):
        raise ValueError(
            f"predict_ratings returned shape {predicted.shape}, expected ({len(rows)},)"
        )
    return rating_metrics(np.clip(predicted, lo, hi), data.rating[rows])


def rating_scale(data: Dataset) -> tuple[float, float]:
    """The clipping range of predictions: the data's own rating range (``[1, 5]`` for 1-5 stars,
    ``[0.5, 5]`` for the half-star MovieLens CSV releases)."""
    return float(data.rating.min()), float(data.rating.max())


SCORE_BLOCK = 1 << 22
"""Scores per ranking batch (users x items): small enough that a batch's arrays are reused
from the allocator instead of being faulted in afresh (16 MB of float32)."""


def _ranking_task(
    model: Any, data: Dataset, split: Split, part: str, batch: int = 1024, *, desc: str = "ranking"
) -> dict[str, float]:
    """Full ranking of each user's held-out item against every item outside the history;
    at most ``batch`` users, and about :data:`SCORE_BLOCK` scores, at a time."""
    batch = max(1, min(batch, SCORE_BLOCK // max(data.n_items, 1)))
    targets = split.part(part)
    history_rows = split.train if part == "valid" else split.part("train+valid")
    history = data.user_items(history_rows, values="ones")
    users = data.user[targets]
    items = data.item[targets].astype(np.int64)
    ranks = np.empty(len(targets), dtype=np.int64)
    lists: list[np.ndarray] = []
    with progress.bar(len(targets), desc=desc, unit="users") as scored:
        for start in range(0, len(targets), batch):
            sl = slice(start, start + batch)
            scores = np.asarray(model.score_items(users[sl]))
            if scores.shape != (len(users[sl]), data.n_items):
                raise ValueError(
                    f"score_items returned shape {scores.shape}, "
                    f"expected ({len(users[sl])}, {data.n_items})"
                )
            exclude = history[users[sl]]
            k = DIVERSITY_K if part == "test" else 0
            ranks[sl], top = rank_top_k(scores, exclude, k, target=items[sl])
            if part == "test":
                lists.append(top)
            scored.update(len(scores))
    metrics = ranking_metrics(ranks)
    if lists:
        vectors, _ = _item_vectors(data, history_rows)
        popularity = np.bincount(data.item[history_rows], minlength=data.n_items)
        metrics.update(diversity_metrics(np.concatenate(lists), vectors, popularity))
    return metrics


def _item_vectors(data: Dataset, rows: np.ndarray) -> tuple[sp.csr_matrix, str]:
    """ILD's item features: genre indicators when the catalog has genres, else who chose the
    item among ``rows`` (``[n_items, n_users]``); and their name."""
    genres = data.catalog.genres
    names = _genres(data)
    if names:
        column = {g: j for j, g in enumerate(names)}
        pairs = [(i, column[g]) for i, item in enumerate(genres) for g in item]
        row, col = np.asarray(pairs, np.int64).T
        shape = (data.n_items, len(names))
        return sp.csr_matrix((np.ones(len(pairs)), (row, col)), shape=shape), "genres"
    return data.user_items(rows, values="ones").T.tocsr(), "co-occurrence"


def _genres(data: Dataset) -> list[str]:
    return sorted({g for item in data.catalog.genres for g in item})


def _explanation_task(
    model: Any, data: Dataset, split: Split, part: str, *, desc: str = "explanation"
) -> dict[str, float]:
    assert data.summary is not None
    rows = split.part(part)
    with progress.running(len(rows), desc=desc, unit="texts"):
        generated = list(model.explain(data.user[rows], data.item[rows]))
    references = [data.summary[r] for r in rows]
    return explanation_metrics(generated, references)


_DIVERSITY_KEYS = {f"{m}@{DIVERSITY_K}" for m in ("ild", "coverage", "pop", "pop_norm")}

_SELECTION: dict[Task, tuple[str, bool]] = {
    _rating_task: ("rmse", True),
    _ranking_task: ("ndcg@10", False),
    _explanation_task: ("rougeL", False),
}


__all__ = [
    "DIVERSITY_K",
    "LLM_NAME",
    "MODEL_GROUPS",
    "PROTOCOLS",
    "EvalReport",
    "ModelSpec",
    "default_models",
    "llm_spec",
    "model_names",
    "parse_model_selection",
    "rating_scale",
    "reference_models",
    "run_protocol",
    "select_models",
]
