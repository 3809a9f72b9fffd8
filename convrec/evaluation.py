"""Evaluation protocols A (rating), B (top-K ranking) and C (reviews): one runner for any model."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from convrec._io import write_json_atomic
from convrec.data.dataset import Dataset
from convrec.metrics import explanation_metrics, pessimistic_rank, ranking_metrics, rating_metrics
from convrec.splits import Split, leave_last_out_split, random_split

PROTOCOLS = ("A", "B", "C")


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


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: a factory called with each point of a hyper-parameter grid.

    The grid point with the best validation score (lowest RMSE, highest
    NDCG@10, highest ROUGE-L) is refitted on train+valid and scored on test.
    """

    name: str
    factory: Callable[..., Any]
    grid: Sequence[Mapping[str, Any]] = ({},)
    sample: int | None = None
    """Score on a seeded sample of at most this many test rows (slow models, e.g. the LLM)."""


@dataclass
class EvalReport:
    """Everything one protocol run measured; :meth:`to_json` gives the documented shape."""

    data: str
    protocol: str
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    split: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "protocol": self.protocol,
            "models": self.models,
            "params": self.params,
            "seconds": self.seconds,
            "split": self.split,
        }

    def write_json(self, path: str | Path) -> None:
        """Write atomically (a temporary file renamed into place)."""
        write_json_atomic(path, self.to_json())

    def table(self) -> str:
        """Plain-text table, one row per model, one column per metric."""
        metrics: list[str] = []
        for values in self.models.values():
            metrics += [m for m in values if m not in metrics]
        width = max([len("model"), *(len(n) for n in self.models)])
        lines = [
            f"{self.data} - protocol {self.protocol}",
            "  ".join(["model".ljust(width), *(m.rjust(8) for m in metrics)]),
        ]
        for name, values in self.models.items():
            cells = [_cell(values.get(m)).rjust(max(8, len(m))) for m in metrics]
            lines.append("  ".join([name.ljust(width), *cells]))
        return "\n".join(lines)


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
    (rating, random split), ``score_items`` (ranking, leave-last-out) and
    ``explain`` (explanation, random split; protocol C only).
    """
    protocol = protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
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
        if spec.sample is not None:
            chosen["sample"] = spec.sample
            log(f"{spec.name}: scored on a seeded sample of at most {spec.sample} test rows")
        if rating_split is not None and hasattr(probe, "predict_ratings"):
            values, params = _select_and_test(spec, data, rating_split, _rating_task)
            metrics.update(values)
            chosen.update(params)
        if ranking_split is not None and hasattr(probe, "score_items"):
            values, params = _select_and_test(spec, data, ranking_split, _ranking_task)
            metrics.update(values)
            chosen.update(params)
        if protocol == "C" and rating_split is not None and hasattr(probe, "explain"):
            values, params = _select_and_test(spec, data, rating_split, _explanation_task)
            metrics.update(values)
            chosen.update(params)
        if not metrics:
            log(f"{spec.name}: no method this protocol can score, skipped")
            continue
        report.models[spec.name] = metrics
        report.params[spec.name] = chosen
        report.seconds[spec.name] = round(time.perf_counter() - start, 3)
        log(f"{spec.name}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return report


Task = Callable[[Any, Dataset, Split, str], dict[str, float]]


def _select_and_test(
    spec: ModelSpec, data: Dataset, split: Split, task: Task
) -> tuple[dict[str, float], dict[str, Any]]:
    """Pick the grid point by validation, refit on train+valid, score on test."""
    key, lower_is_better = _SELECTION[task]
    best: tuple[float, dict[str, Any]] | None = None
    if len(spec.grid) > 1:
        for point in spec.grid:
            model = spec.factory(**dict(point)).fit(data, split.train)
            value = task(model, data, split, "valid")[key]
            value = value if lower_is_better else -value
            if best is None or value < best[0]:
                best = (value, dict(point))
    params = best[1] if best is not None else dict(spec.grid[0])
    model = spec.factory(**params).fit(data, split.part("train+valid"))
    if spec.sample is not None:
        split = _sampled(split, spec.sample)
    return task(model, data, split, "test"), params


def _sampled(split: Split, n: int) -> Split:
    """The split with its test part cut to a seeded sample of ``n`` rows (order kept)."""
    test = split.test
    if len(test) > n:
        keep = np.sort(np.random.default_rng(0).choice(len(test), size=n, replace=False))
        test = test[keep]
    return Split(split.kind, split.train, split.valid, test)


def _rating_task(model: Any, data: Dataset, split: Split, part: str) -> dict[str, float]:
    rows = split.part(part)
    lo, hi = rating_scale(data)
    predicted = np.asarray(model.predict_ratings(data.user[rows], data.item[rows]), np.float64)
    if predicted.shape != (len(rows),):
        raise ValueError(
            f"predict_ratings returned shape {predicted.shape}, expected ({len(rows)},)"
        )
    return rating_metrics(np.clip(predicted, lo, hi), data.rating[rows])


def rating_scale(data: Dataset) -> tuple[float, float]:
    """The clipping range of predictions: ``[1, 5]`` for star ratings, else the observed range."""
    lo, hi = float(data.rating.min()), float(data.rating.max())
    return (1.0, 5.0) if lo >= 0.5 and hi <= 5.0 else (lo, hi)


def _ranking_task(
    model: Any, data: Dataset, split: Split, part: str, batch: int = 1024
) -> dict[str, float]:
    """Full ranking of each user's held-out item against every item outside the history."""
    targets = split.part(part)
    history_rows = split.train if part == "valid" else split.part("train+valid")
    history = data.user_items(history_rows, values="ones")
    users = data.user[targets]
    items = data.item[targets].astype(np.int64)
    ranks = np.empty(len(targets), dtype=np.int64)
    for start in range(0, len(targets), batch):
        sl = slice(start, start + batch)
        scores = np.asarray(model.score_items(users[sl]), dtype=np.float64)
        if scores.shape != (len(users[sl]), data.n_items):
            raise ValueError(
                f"score_items returned shape {scores.shape}, "
                f"expected ({len(users[sl])}, {data.n_items})"
            )
        exclude = sp.csr_matrix(history[users[sl]])
        ranks[sl] = pessimistic_rank(scores, items[sl], exclude)
    return ranking_metrics(ranks)


def _explanation_task(model: Any, data: Dataset, split: Split, part: str) -> dict[str, float]:
    assert data.summary is not None
    rows = split.part(part)
    generated = list(model.explain(data.user[rows], data.item[rows]))
    references = [data.summary[r] for r in rows]
    return explanation_metrics(generated, references)


_SELECTION: dict[Task, tuple[str, bool]] = {
    _rating_task: ("rmse", True),
    _ranking_task: ("ndcg@10", False),
    _explanation_task: ("rougeL", False),
}


def reference_models(protocol: str) -> list[ModelSpec]:
    """The simple references every report carries (names fixed by PROTOCOL.md's tables)."""
    from convrec.cf.baselines import BiasBaseline, GlobalMean, MostPopular

    regs = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    specs = [
        ModelSpec("global_mean", GlobalMean),
        ModelSpec(
            "bias_baseline",
            BiasBaseline,
            grid=[{"reg_item": a, "reg_user": b} for a in regs for b in regs],
        ),
        ModelSpec("most_popular", MostPopular),
    ]
    if protocol.upper() == "C":
        from convrec.explain_floors import ConstantSentence, SameItemRetrieval

        specs += [
            ModelSpec("constant_sentence", ConstantSentence, grid=[{"rank": k} for k in range(30)]),
            ModelSpec("same_item_retrieval", SameItemRetrieval),
        ]
    return specs


MODEL_GROUPS = ("references", "cf", "cbf", "all")


def default_models(protocol: str) -> list[ModelSpec]:
    """Every model a protocol reports: the references, then the CF models it scores.

    Rating CF models (``cf_knn_item``, ``cf_knn_user``, ``cf_bpmf``, ``cf_blend``) run under
    A and C, ranking ones (``cf_itemknn``, ``cf_userknn``, ``cf_recency_itemknn``,
    ``cf_seqknn``) under B and C, as does the content-based ``cbf``.
    """
    from convrec.cbf.specs import content_model_specs
    from convrec.cf.specs import ranking_model_specs, rating_model_specs

    protocol = protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    specs = reference_models(protocol)
    if protocol in ("A", "C"):
        specs += rating_model_specs()
    if protocol in ("B", "C"):
        specs += ranking_model_specs() + content_model_specs()
    return specs


def model_names() -> list[str]:
    """Names of every model of :func:`default_models` over all protocols, in report order."""
    names: list[str] = []
    for protocol in PROTOCOLS:
        names += [s.name for s in default_models(protocol) if s.name not in names]
    return names


LLM_NAME = "llm"
"""The LLM alone (needs a trained adapter: ``convrec eval --adapter DIR``)."""


def llm_spec(adapter: str | Path, sample: int | None = None) -> ModelSpec:
    """The ``llm`` model: an adapter directory loaded once, refitted (prompt index) per split."""
    shared: dict[str, Any] = {}

    def factory() -> Any:
        from convrec.llm.model import LLMModel

        if "model" not in shared:
            shared["model"] = LLMModel.from_pretrained(adapter)
        loaded = shared["model"]
        return LLMModel(loaded.config, backbone=loaded.backbone)

    return ModelSpec(LLM_NAME, factory, sample=sample)


def parse_model_selection(text: str) -> list[str]:
    """Check a comma-separated list of model names and groups (:data:`MODEL_GROUPS`).

    Returns the items, stripped, in order. Raises ``ValueError`` naming every unknown item and
    listing the valid ones.
    """
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise ValueError("--models is empty; give model names or one of " + ", ".join(MODEL_GROUPS))
    known = [*model_names(), LLM_NAME]
    unknown = [item for item in items if item not in known and item not in MODEL_GROUPS]
    if unknown:
        raise ValueError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; choose from the groups "
            f"{', '.join(MODEL_GROUPS)} or the models {', '.join(known)}"
        )
    return items


def select_models(
    protocol: str,
    selection: str | Sequence[str] = "all",
    adapter: str | Path | None = None,
    sample: int | None = None,
) -> list[ModelSpec]:
    """The models of :func:`default_models` (``protocol``) that ``selection`` names.

    ``selection`` is a comma-separated string or a list of names and groups: ``references``
    (the simple references), ``cf`` (the ``cf_*`` models), ``cbf`` (content-based), ``all``.
    Names that exist but are not scored under ``protocol`` (e.g. a rating model under B) are
    left out. ``llm`` (the LLM alone, scored on a seeded sample of ``sample`` test rows when
    given) needs an ``adapter`` directory; ``all`` includes it only when one is given.
    """
    items = parse_model_selection(selection if isinstance(selection, str) else ",".join(selection))
    if LLM_NAME in items and adapter is None:
        raise ValueError("the llm model needs --adapter DIR (an adapter from convrec train)")
    chosen = []
    for spec in default_models(protocol):
        group = spec.name.split("_")[0] if spec.name.startswith(("cf_", "cbf")) else "references"
        if "all" in items or group in items or spec.name in items:
            chosen.append(spec)
    if adapter is not None and ("all" in items or LLM_NAME in items):
        chosen.append(llm_spec(adapter, sample))
    return chosen
