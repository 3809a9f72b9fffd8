"""TrainConfig (tasks, weights, schedule, validation sizes) and the training rows per task."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convrec.data.dataset import Dataset
from convrec.evaluation.sessions import cold_items, user_split
from convrec.evaluation.splits import leave_last_out_split, random_split
from convrec.llm.tasks import REGISTRY, Task

WEIGHTINGS = ("fixed", "uncertainty")
SPLITS = ("A", "B", "C", "S")


def _opt(default: Any, help: str, **metadata: Any) -> Any:
    """A field with a default and its command-line help (``convrec train`` is built from these:
    see :mod:`convrec.cli.options`); ``metadata`` may add ``metavar`` and ``choices``."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train` (saved in ``convrec_config.json``).

    Attributes
    ----------
    tasks, weights : tuple of str, tuple of float
        Tasks trained and their weights: each micro-batch holds one task, drawn with
        probability proportional to its weight (empty ``weights``: all 1).
    weighting : {"fixed", "uncertainty"}
        ``fixed``: the loss of the drawn task as is. ``uncertainty`` (Kendall et al. 2018):
        ``exp(-s_t) * L_t + s_t`` with a learned log-variance ``s_t`` per task.
    lr, weight_decay, warmup_steps, max_grad_norm : float, float, int, float
        AdamW with linear warmup then linear decay to zero at ``max_steps``.
    batch_size, grad_accum : int
        Examples per micro-batch per process, micro-batches per optimizer step.
    max_steps : int
        Optimizer steps; ``epochs`` (when > 0) overrides it from the training set size.
    eval_every, save_every, keep_last : int
        Validation and checkpoint periods in steps (0: never); checkpoints kept (+ the best).
    seed : int
    max_source_length, max_target_length : int
        Token limits (override the backbone config's).
    templates : tuple of str
        Training template ids; empty: every template not held out. The first one named for a
        task is the one validation and the trained adapter's inference use for it
        (:attr:`inference_templates`).
    rating_mse : float
        Weight of an extra squared error between the expected rating (distribution over
        the tokens "1".."5", as scoring reads it) and the true rating, added to the rating loss.
    split : str or None
        ``"A"`` / ``"B"``: every task trains on that protocol's train rows; ``None`` (or "C"):
        rating and explanation on A's train rows, ranking, next and rerank on B's. ``"S"``:
        as ``None``, but only protocol S's train users' rows (train and validation), so that
        protocol S's valid and test users stay unseen.
    valid_ratings, valid_users, valid_explanations, n_candidates : int
        Size of the fixed validation sample; C candidates re-ranked for NDCG@10.
    num_threads : int
        torch CPU threads.
    rerank_negatives : int
        Rerank task: CF-list negatives read with each positive (same prompt, one encoder pass).
    session_share : float
        Rerank task: the share of examples whose profile is session-shaped, as the chat and
        protocol S give it: the user's 1 to 5 earliest liked items (top 40% of the rating
        scale) before the row, each shown with the scale's top rating, nothing else (0: the
        whole history before the row).
    init_adapter : str or None
        An adapter directory (same backbone and LoRA settings) whose weights training starts
        from, e.g. a shipped adapter taught a new task; ``None``: fresh LoRA weights.
    """

    tasks: tuple[str, ...] = _opt(
        ("rating", "ranking", "explanation"),
        "tasks trained; 'rerank' re-ranks CF candidates with one encoder pass per user (the "
        "decoder reads each candidate and its CF evidence): an adapter trained on it scores "
        "candidates that way; 'next' is ranking as title generation (used when neither "
        "'rerank' nor 'ranking' is trained)",
    )
    weights: tuple[float, ...] = _opt(
        (),
        "one positive weight per task (default all 1): the probability of drawing each task "
        "for a batch is proportional to it",
    )
    weighting: str = _opt(
        "fixed",
        "fixed: the drawn task's loss as is; uncertainty: learned log-variances s_t, loss "
        "exp(-s_t) L_t + s_t (Kendall et al.)",
        choices=WEIGHTINGS,
    )
    lr: float = _opt(1e-3, "peak learning rate (AdamW)")
    weight_decay: float = _opt(0.0, "AdamW weight decay", metavar="W")
    warmup_steps: int = _opt(50, "linear warmup steps, then linear decay to 0", metavar="N")
    max_grad_norm: float = _opt(1.0, "gradient norm clipping (0: off)", metavar="X")
    batch_size: int = _opt(16, "examples per micro-batch, per process", metavar="B")
    grad_accum: int = _opt(1, "micro-batches per optimizer step", metavar="K")
    max_steps: int = _opt(1000, "optimizer steps", metavar="N")
    epochs: float = _opt(0.0, "if > 0, overrides --max-steps", metavar="E")
    eval_every: int = _opt(200, "validate every N steps (0: off)", metavar="N")
    save_every: int = _opt(200, "checkpoint every N steps (0: off)", metavar="N")
    keep_last: int = _opt(2, "checkpoints kept (+ the best)", metavar="N")
    seed: int = _opt(0, "seed of the data order, templates and new weights")
    max_source_length: int = _opt(256, "prompt token limit", metavar="N")
    max_target_length: int = _opt(32, "target token limit", metavar="N")
    templates: tuple[str, ...] = _opt(
        (),
        "training template ids (default: all but the held-out ones and the opt-in rating-5); "
        "the first one named for a task is the one validation and the trained adapter use",
        metavar="IDS",
    )
    rating_mse: float = _opt(
        1.0,
        "weight of the squared error of the expected rating added to the rating loss",
        metavar="W",
    )
    split: str | None = _opt(
        None,
        "train every task on that protocol's train rows; default: protocol A's train rows for "
        "rating / explanation and B's for ranking / next / rerank; S: the default restricted "
        "to protocol S's train users and warm items (its valid and test users and its cold "
        "items stay unseen)",
        choices=SPLITS,
    )
    valid_ratings: int = _opt(300, "validation sample of ratings (protocol A)", metavar="N")
    valid_users: int = _opt(30, "validation users (protocol B)", metavar="N")
    valid_explanations: int = _opt(16, "explanations generated in validation", metavar="N")
    n_candidates: int = _opt(
        50, "validation: CF candidates re-ranked per user for NDCG@10", metavar="C"
    )
    num_threads: int = _opt(2, "torch CPU threads (0: torch's choice)", metavar="N")
    rerank_negatives: int = _opt(
        3, "rerank: CF-list negatives per positive, read after one encoder pass", metavar="K"
    )
    session_share: float = _opt(
        0.0,
        "rerank: share of examples whose profile is a session (the user's 1-5 earliest liked "
        "items before the row, as the chat gives them)",
        metavar="P",
    )
    init_adapter: str | None = _opt(
        None,
        "start from this adapter's weights (a directory or a shipped adapter's name); its "
        "backbone and LoRA settings are used",
        metavar="DIR|NAME",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(Task(t).value for t in self.tasks))
        weights = self.weights or (1.0,) * len(self.tasks)
        object.__setattr__(self, "weights", tuple(float(w) for w in weights))
        object.__setattr__(self, "templates", tuple(self.templates))
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks must be a non-empty list without repeats")
        if len(self.weights) != len(self.tasks):
            raise ValueError(f"{len(self.weights)} weights for {len(self.tasks)} tasks")
        if any(not math.isfinite(w) or w <= 0 for w in self.weights):
            raise ValueError(f"weights must be positive numbers, got {list(self.weights)}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.split not in (None, *SPLITS):
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if not 0.0 <= self.session_share <= 1.0:
            raise ValueError(f"session_share must be in [0, 1], got {self.session_share}")
        if self.rerank_negatives < 1:
            raise ValueError(f"rerank_negatives must be >= 1, got {self.rerank_negatives}")
        if min(self.batch_size, self.grad_accum, self.max_steps) < 1 or self.lr <= 0:
            raise ValueError("batch_size, grad_accum and max_steps must be >= 1, lr > 0")
        for tid in self.templates:
            tpl = REGISTRY[tid]
            if tpl.held_out:
                raise ValueError(f"template {tid!r} is held out of training")

    @property
    def ranking(self) -> str:
        """How the trained adapter scores candidates (``LLMConfig.ranking``): ``"rerank"`` when
        that task was trained, else ``"next"`` when next was and the pointwise ranking task
        was not, else ``"pointwise"``."""
        if "rerank" in self.tasks:
            return "rerank"
        return "next" if "next" in self.tasks and "ranking" not in self.tasks else "pointwise"

    @property
    def inference_templates(self) -> dict[str, str]:
        """Task value -> template id for the tasks whose pool ``templates`` restricts: the
        first one named (``LLMConfig.templates`` of the trained adapter)."""
        out: dict[str, str] = {}
        for tid in self.templates:
            out.setdefault(REGISTRY[tid].task.value, tid)
        return {task: tid for task, tid in out.items() if task in self.tasks}

    def template_pool(self, task: Task) -> list[str]:
        """Training template ids of a task."""
        chosen = [t for t in self.templates if REGISTRY[t].task is task]
        return chosen or [t.id for t in REGISTRY.training(task)]


@dataclass
class TrainResult:
    """What :func:`train` returns: the output directory, steps run, losses, validations."""

    out_dir: Path
    step: int
    history: list[dict[str, Any]] = field(default_factory=list)
    valid: list[dict[str, Any]] = field(default_factory=list)
    log_vars: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class SplitRows:
    """``int64`` rows training reads: protocol A's random split (``a_*``) and protocol B's
    leave-last-out split (``b_*``), train and validation parts."""

    a_train: np.ndarray
    b_train: np.ndarray
    a_valid: np.ndarray
    b_valid: np.ndarray


def split_rows(data: Dataset, split: str | None) -> SplitRows:
    """Protocol A's and B's train and validation rows; with ``split == "S"`` only the rows of
    protocol S's train users (:func:`~convrec.evaluation.sessions.user_split`) on warm items
    (not :func:`~convrec.evaluation.sessions.cold_items`), so that an adapter trained on them
    has seen neither the sessions nor the cold items protocol S scores it on."""
    a, b = random_split(data), leave_last_out_split(data)
    parts = SplitRows(a.train, b.train, a.valid, b.valid)
    if split != "S":
        return parts
    users = np.zeros(data.n_users, dtype=bool)
    users[user_split(data).train_users] = True
    warm = np.ones(data.n_items, dtype=bool)
    warm[cold_items(data)] = False

    def kept(part: np.ndarray) -> np.ndarray:
        part = np.asarray(part)
        return part[users[data.user[part]] & warm[data.item[part]]]

    return SplitRows(*(kept(p) for p in (a.train, b.train, a.valid, b.valid)))


def task_rows(data: Dataset, tasks: list[Task], split: str | None) -> dict[Task, np.ndarray]:
    """Training rows per task (see :attr:`TrainConfig.split`)."""
    rows = split_rows(data, split)
    a, b = rows.a_train, rows.b_train
    if split == "A":
        return dict.fromkeys(tasks, a)
    if split == "B":
        return dict.fromkeys(tasks, b)
    return {t: (b if t in (Task.RANKING, Task.NEXT, Task.RERANK) else a) for t in tasks}
