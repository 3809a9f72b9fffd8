"""Protocol S: cold sessions of N liked items from users never seen in training.

Users are split, seeded, 80/10/10 into train / valid / test users; models fit on the train
users' interactions only. A valid or test user with at least ``N + 1`` positive
interactions becomes one session: its ``N`` earliest positives are what the model sees,
its later positives are the targets, and every item outside the session is a candidate.
Hyper-parameters are chosen on the valid sessions (NDCG@10), separately for each N.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.data.dataset import Dataset
from convrec.evaluation.metrics import target_set_metrics
from convrec.evaluation.protocols import EvalReport
from convrec.evaluation.specs import ModelSpec
from convrec.evaluation.splits import fingerprint

SESSION_SIZES = (1, 3, 5)
"""The session lengths N protocol S reports."""
POSITIVE_SHARE = 0.4
"""Positives are the top 40 % of the rating scale (4 and 5 on 1-5 stars)."""
METRIC_KS = (10, 20)
_SELECT = "ndcg@10"


@dataclass(frozen=True)
class UserSplit:
    """Protocol S's users: ``int32`` internal indices (sorted) and the training rows.

    Attributes
    ----------
    train_users, valid_users, test_users : numpy.ndarray
        ``int32`` user indices, a seeded 80/10/10 partition of every user.
    train : numpy.ndarray
        ``int64`` rows of the train users (source order): all the models ever fit on.
    """

    train_users: np.ndarray
    valid_users: np.ndarray
    test_users: np.ndarray
    train: np.ndarray

    def users(self, part: str) -> np.ndarray:
        """The users of ``"train"``, ``"valid"`` or ``"test"``."""
        if part not in ("train", "valid", "test"):
            raise ValueError(f"unknown user split part {part!r}")
        return np.asarray(getattr(self, f"{part}_users"))


def user_split(
    data: Dataset, seed: int = 0, fractions: tuple[float, float] = (0.8, 0.1)
) -> UserSplit:
    """``numpy.random.default_rng(seed).permutation(n_users)`` cut at ``round(0.8 n)`` and
    ``round(0.9 n)``: train / valid / test users."""
    n = data.n_users
    perm = np.random.default_rng(seed).permutation(n).astype(np.int32)
    n_train = round(n * fractions[0])
    n_valid = round(n * fractions[1])
    parts = [np.sort(p) for p in np.split(perm, [n_train, n_train + n_valid])]
    in_train = np.zeros(n, dtype=bool)
    in_train[parts[0]] = True
    train = np.flatnonzero(in_train[data.user]).astype(np.int64)
    return UserSplit(parts[0], parts[1], parts[2], train)


def positive_threshold(data: Dataset) -> float:
    """The lowest positive rating: the top :data:`POSITIVE_SHARE` of the data's rating range
    (every interaction when all ratings are equal, as in implicit data)."""
    lo, hi = float(data.rating.min()), float(data.rating.max())
    return hi - POSITIVE_SHARE * (hi - lo) if hi > lo else lo


@dataclass(frozen=True)
class Sessions:
    """One N's sessions.

    Attributes
    ----------
    n : int
        Liked items per session.
    users : numpy.ndarray
        ``int32[B]`` the session users (each valid / test user with >= N + 1 positives).
    rows : numpy.ndarray
        ``int64[B * N]`` the interaction rows that form the sessions (what models see).
    seen : scipy.sparse.csr_matrix
        ``[B, n_items]`` ones at each session's items (left out of the candidates).
    targets : scipy.sparse.csr_matrix
        ``[B, n_items]`` ones at each session's later positives.
    """

    n: int
    users: np.ndarray
    rows: np.ndarray
    seen: sp.csr_matrix
    targets: sp.csr_matrix


def build_sessions(data: Dataset, users: np.ndarray, n: int) -> Sessions:
    """The sessions of ``users`` (``int32``) with ``n`` liked items each.

    A user's positives are ordered by (timestamp, item index), as the leave-last-out split
    orders them; a later positive repeating a session item is not a target.
    """
    chosen = np.zeros(data.n_users, dtype=bool)
    chosen[users] = True
    positive = data.rating >= positive_threshold(data) - 1e-9
    rows = np.flatnonzero(chosen[data.user] & positive).astype(np.int64)
    rows = rows[np.lexsort((data.item[rows], data.timestamp[rows], data.user[rows]))]
    owner = data.user[rows]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    session_rows: list[np.ndarray] = []
    target_rows: list[np.ndarray] = []
    kept: list[int] = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        head, tail = rows[start : start + n], rows[start + n : end]
        tail = tail[~np.isin(data.item[tail], data.item[head])]
        if end - start < n + 1 or len(tail) == 0:
            continue
        kept.append(int(owner[start]))
        session_rows.append(head)
        target_rows.append(tail)
    b = len(kept)
    session = np.concatenate(session_rows) if session_rows else np.zeros(0, np.int64)
    return Sessions(
        n,
        np.asarray(kept, np.int32),
        session,
        _indicator([data.item[r] for r in session_rows], b, data.n_items),
        _indicator([data.item[r] for r in target_rows], b, data.n_items),
    )


def _indicator(items: Sequence[np.ndarray], rows: int, n_items: int) -> sp.csr_matrix:
    """``float32[rows, n_items]`` CSR with ones at each row's ``items``."""
    lengths = np.asarray([len(i) for i in items], np.int64)
    cols = np.concatenate(items).astype(np.int32) if len(items) else np.zeros(0, np.int32)
    indptr = np.r_[0, np.cumsum(lengths)]
    matrix = sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr), (rows, n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def session_scores(model: Any, data: Dataset, sessions: Sessions, batch: int = 512) -> np.ndarray:
    """``float32[B, n_items]`` scores of every item for each session, the model seeing only
    the session: ``model.score_sessions(data, rows, users)`` when it has one (content,
    LLM), else its :meth:`~convrec.cf.base.CFModel.fold_in` histories scored by
    ``score_items``."""
    out = np.empty((len(sessions.users), data.n_items), np.float32)
    if hasattr(model, "score_sessions"):
        for start in range(0, len(sessions.users), batch):
            users = sessions.users[start : start + batch]
            rows = sessions.rows[np.isin(data.user[sessions.rows], users)]
            out[start : start + batch] = model.score_sessions(data, rows, users)
        return out
    histories = model.fold_in(data, sessions.rows)[sessions.users]
    for start in range(0, len(sessions.users), batch):
        out[start : start + batch] = model.score_items(histories[start : start + batch])
    return out


def _evaluate(model: Any, data: Dataset, sessions: Sessions) -> dict[str, np.ndarray]:
    scores = session_scores(model, data, sessions)
    return target_set_metrics(scores, sessions.seen, sessions.targets, METRIC_KS)


def _summarise(per_user: dict[str, np.ndarray]) -> dict[str, float]:
    """Means and standard errors (``_se``: sample std / sqrt(B)) of per-session metrics."""
    out: dict[str, float] = {}
    for name in ("ndcg@10", "recall@10", "recall@20", "hr@10", "ndcg@20", "hr@20"):
        values = per_user[name]
        out[name] = float(values.mean())
        se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        out[f"{name}_se"] = float(se)
    return out


@dataclass
class SessionReport(EvalReport):
    """One N of protocol S (:meth:`to_json` adds ``"N"``)."""

    n: int = 0
    fingerprints: dict[str, dict[str, object]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["N"] = self.n
        out["fingerprints"] = self.fingerprints
        return out

    def table(self) -> str:
        lines = super().table().splitlines()
        lines[0] = f"{self.data} - protocol S, sessions of N={self.n} liked items"
        return "\n".join(lines)


def run_sessions(
    data: Dataset,
    models: Iterable[ModelSpec],
    *,
    sizes: Sequence[int] = SESSION_SIZES,
    seed: int = 0,
    log: Callable[[str], None] = lambda _msg: None,
) -> list[SessionReport]:
    """Protocol S for each model: one :class:`SessionReport` per session size in ``sizes``.

    Every grid point is fitted once on the train users' rows; the best point per N on the
    valid sessions (NDCG@10) is scored on the test sessions.
    """
    split = user_split(data, seed)
    prints = {
        part: fingerprint(data, np.flatnonzero(np.isin(data.user, split.users(part))))
        for part in ("train", "valid", "test")
    }
    for part, printed in prints.items():
        log(f"protocol S {part} users' rows: {printed}")
    valid = {n: build_sessions(data, split.valid_users, n) for n in sizes}
    test = {n: build_sessions(data, split.test_users, n) for n in sizes}
    reports: dict[int, SessionReport] = {}
    for n in sizes:
        if len(valid[n].users) < 2 or len(test[n].users) < 2:
            raise ValueError(
                f"protocol S: too few users with {n + 1} or more positives "
                f"({len(valid[n].users)} valid, {len(test[n].users)} test)"
            )
        report = SessionReport(data=data.name, protocol="S", n=n, fingerprints=prints)
        report.split = {
            "users": {p: len(split.users(p)) for p in ("train", "valid", "test")},
            "sessions": {"valid": len(valid[n].users), "test": len(test[n].users)},
            "rows": {"train": len(split.train)},
        }
        reports[n] = report
    for spec in models:
        start = time.perf_counter()
        best: dict[int, tuple[float, dict[str, Any], Any]] = {}
        for point in spec.grid:
            model = spec.factory(**dict(point)).fit(data, split.train)
            for n in sizes:
                value = float(_evaluate(model, data, valid[n])[_SELECT].mean())
                if n not in best or value > best[n][0]:
                    best[n] = (value, dict(point), model)
        for n in sizes:
            _, params, model = best[n]
            metrics = _summarise(_evaluate(model, data, test[n]))
            reports[n].models[spec.name] = metrics
            reports[n].params[spec.name] = params
            log(
                f"{spec.name} N={n}: ndcg@10={metrics['ndcg@10']:.4f} "
                f"(se {metrics['ndcg@10_se']:.4f}), recall@20={metrics['recall@20']:.4f}"
            )
        elapsed = round(time.perf_counter() - start, 3)
        for n in sizes:
            reports[n].seconds[spec.name] = elapsed
    return [reports[n] for n in sizes]


__all__ = [
    "POSITIVE_SHARE",
    "SESSION_SIZES",
    "SessionReport",
    "Sessions",
    "UserSplit",
    "build_sessions",
    "positive_threshold",
    "run_sessions",
    "session_scores",
    "user_split",
]
