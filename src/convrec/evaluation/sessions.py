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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from convrec.cbf.item_text import review_texts
from convrec.cf.scoring import rank_top_k
from convrec.data.dataset import Dataset
from convrec.evaluation.metrics import diversity_metrics, target_set_metrics
from convrec.evaluation.protocols import DIVERSITY_K, EvalReport, _item_vectors, _rows
from convrec.evaluation.specs import ModelSpec
from convrec.evaluation.splits import fingerprint

SESSION_SIZES = (1, 3, 5)
"""The session lengths N protocol S reports."""
POSITIVE_SHARE = 0.4
"""Positives are the top 40 % of the rating scale (4 and 5 on 1-5 stars)."""
METRIC_KS = (10, 20)
COLD_SHARE = 0.05
"""Share of the catalogue made cold: every interaction with those items leaves training."""
RANDOM_NAME = "random"
"""The cold block's floor: the expected metrics of a uniformly random order of the candidates."""
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


def cold_items(data: Dataset, seed: int = 0, share: float = COLD_SHARE) -> np.ndarray:
    """``int32`` sorted: ``round(share * n_items)`` items drawn by
    ``numpy.random.default_rng([seed, 1])`` (a stream apart from the user split's)."""
    size = max(1, round(share * data.n_items))
    chosen = np.random.default_rng([seed, 1]).choice(data.n_items, size=size, replace=False)
    return np.sort(chosen).astype(np.int32)


def with_cold_item_text(data: Dataset, rows: np.ndarray, cold: np.ndarray) -> Dataset:
    """``data`` whose ``cold`` items carry, as catalog text, what the reviews of ``rows`` say
    of them (summaries and keywords, :func:`~convrec.cbf.item_text.review_texts`).

    The cold block takes every interaction with a cold item out of training, and on review
    data that took its only text with it. A shop still shows an item's reviews before anyone
    here has rated it, so the train users' reviews of a cold item stay as its description:
    their words reach the item's text, their users, ratings and times reach no model. Data
    without reviews (or no cold item) is returned as it is.

    Parameters
    ----------
    rows : int64[m]
        Rows whose reviews may describe the cold items (the train users' rows).
    cold : int32[c]
        The cold items.
    """
    if (data.summary is None and data.review_text is None) or not len(cold):
        return data
    rows = np.asarray(rows, np.int64)
    learned = review_texts(data, rows[np.isin(data.item[rows], cold)])
    text = list(data.catalog.text)
    for item in np.asarray(cold).tolist():
        text[item] = ". ".join(part for part in (text[item].strip(), learned[item]) if part)
    return replace(data, catalog=replace(data.catalog, text=text))


def cold_sessions(data: Dataset, users: np.ndarray, n: int, cold: np.ndarray) -> Sessions:
    """Sessions of ``n`` liked items that reach the ``cold`` items.

    The session is the user's ``n`` earliest positives among the other (warm) items; the
    targets are its later positives among the cold items; every warm item is left out of the
    candidates, so the cold items are ranked against each other. Users without a cold target
    are dropped.
    """
    is_cold = np.zeros(data.n_items, dtype=bool)
    is_cold[cold] = True
    chosen = np.zeros(data.n_users, dtype=bool)
    chosen[users] = True
    positive = data.rating >= positive_threshold(data) - 1e-9
    rows = np.flatnonzero(chosen[data.user] & positive).astype(np.int64)
    rows = rows[np.lexsort((data.item[rows], data.timestamp[rows], data.user[rows]))]
    kept: list[int] = []
    heads: list[np.ndarray] = []
    tails: list[np.ndarray] = []
    owner = data.user[rows]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        mine = rows[start:end]
        user = int(owner[start])
        warm_rows = mine[~is_cold[data.item[mine]]]
        if len(warm_rows) < n:
            continue
        head = warm_rows[:n]
        last = data.timestamp[head[-1]]
        later = mine[is_cold[data.item[mine]] & (data.timestamp[mine] >= last)]
        if len(later) == 0:
            continue
        kept.append(user)
        heads.append(head)
        tails.append(later)
    b = len(kept)
    blocked = [np.union1d(data.item[h], np.flatnonzero(~is_cold)) for h in heads]
    return Sessions(
        n,
        np.asarray(kept, np.int32),
        np.concatenate(heads) if heads else np.zeros(0, np.int64),
        _indicator(blocked, b, data.n_items),
        _indicator([data.item[t] for t in tails], b, data.n_items),
    )


def random_floor(sessions: Sessions, k: int = 10) -> dict[str, np.ndarray]:
    """Per session, the expected ``hr@k``, ``recall@k`` and ``ndcg@k`` of a uniformly random
    order of its candidates (every item outside ``seen``)."""
    n_items = sessions.seen.shape[1]
    candidates = n_items - np.diff(sessions.seen.indptr)
    targets = np.diff(sessions.targets.indptr)
    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    shown = np.minimum(k, candidates)
    # P(no target in the first `shown` of `candidates`): product over the positions
    miss = np.ones(len(targets))
    for j in range(k):
        step = j < shown
        left = np.maximum(candidates - j, 1)
        miss = np.where(step, miss * np.maximum(left - targets, 0) / left, miss)
    p_target = targets / np.maximum(candidates, 1)
    dcg = p_target * np.asarray([discount[: int(s)].sum() for s in shown])
    ideal = np.cumsum(discount)[np.minimum(targets, k) - 1]
    return {
        f"hr@{k}": 1.0 - miss,
        f"recall@{k}": shown / np.maximum(candidates, 1),
        f"ndcg@{k}": dcg / ideal,
    }


def _indicator(items: Sequence[np.ndarray], rows: int, n_items: int) -> sp.csr_matrix:
    """``float32[rows, n_items]`` CSR with ones at each row's ``items``."""
    lengths = np.asarray([len(i) for i in items], np.int64)
    cols = np.concatenate(items).astype(np.int32) if len(items) else np.zeros(0, np.int32)
    indptr = np.r_[0, np.cumsum(lengths)]
    matrix = sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr), (rows, n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


@runtime_checkable
class SessionModel(Protocol):
    """A model that scores new sessions itself (the content source, fused, implicit's ALS)
    instead of through :meth:`~convrec.cf.base.CFModel.fold_in`.

    ``score_sessions(data, rows, users, blocked)`` returns ``float32[B, n_items]``: one row per
    session user ``users`` (``int32[B]``, in output order), each known only by its
    interactions among ``rows`` (``int64[m]``; other users' rows are not read);
    ``blocked`` (``[B, n_items]`` CSR, nonzero = never a candidate, ``None``: none) are items
    the caller will not recommend, which a model may use or ignore.
    """

    def score_sessions(
        self,
        data: Dataset,
        rows: np.ndarray,
        users: np.ndarray,
        blocked: sp.csr_matrix | None = None,
    ) -> np.ndarray: ...


def session_scores(model: Any, data: Dataset, sessions: Sessions, batch: int = 512) -> np.ndarray:
    """``float32[B, n_items]`` scores of every item for each session, the model seeing only
    the session: a :class:`SessionModel` scores them itself (``blocked`` is the sessions'
    ``seen``), any other its :meth:`~convrec.cf.base.CFModel.fold_in` histories by
    ``score_items``."""
    out = np.empty((len(sessions.users), data.n_items), np.float32)
    if isinstance(model, SessionModel):
        for start, users, rows in _batches(data, sessions, batch):
            seen = sessions.seen[start : start + len(users)]
            out[start : start + len(users)] = model.score_sessions(data, rows, users, blocked=seen)
        return out
    histories = model.fold_in(data, sessions.rows)[sessions.users]
    for start in range(0, len(sessions.users), batch):
        out[start : start + batch] = model.score_items(histories[start : start + batch])
    return out


def _batches(
    data: Dataset, sessions: Sessions, batch: int
) -> Iterable[tuple[int, np.ndarray, np.ndarray]]:
    """``(start, int32 users, int64 rows)`` of each batch of at most ``batch`` sessions."""
    for start in range(0, len(sessions.users), batch):
        users = sessions.users[start : start + batch]
        yield start, users, sessions.rows[np.isin(data.user[sessions.rows], users)]


POOL_SHUFFLES = 16
"""Seeded random orders of a pool averaged for its ``pool_random_ndcg@10``."""


def pool_headroom(model: Any, data: Dataset, sessions: Sessions) -> dict[str, np.ndarray]:
    """What re-ordering a model's candidate pool can reach, per session.

    ``model.session_pools`` gives each session's pool (``int32[B, C]``, as the fusion sees
    it). Returns ``float64[B]`` arrays: ``pool_recall`` (share of the targets in the pool),
    ``pool_oracle_ndcg@10`` (the pool ordered targets first: the best any re-ranker of it
    can do) and ``pool_random_ndcg@10`` (the pool in random order, the mean of
    :data:`POOL_SHUFFLES` seeded shuffles: what a re-ranker without skill gets).
    """
    pools = model.session_pools(data, sessions.rows, sessions.users, blocked=sessions.seen)
    pools = np.asarray(pools, np.int32)
    n = len(pools)
    row = np.repeat(np.arange(n), pools.shape[1]).reshape(pools.shape)
    valid = pools >= 0
    in_pool = sp.csr_matrix(
        (np.ones(int(valid.sum()), np.float32), (row[valid], pools[valid])),
        shape=sessions.targets.shape,
    )
    hit = sessions.targets.multiply(in_pool).tocoo()
    n_targets = np.diff(sessions.targets.indptr)
    oracle = np.full(sessions.targets.shape, -np.inf, np.float32)
    oracle[row[valid], pools[valid]] = 0.0
    oracle[hit.row, hit.col] = 1.0
    out = {
        "pool_recall": np.bincount(hit.row, minlength=n) / np.maximum(n_targets, 1),
        "pool_oracle_ndcg@10": _ndcg10(oracle, sessions),
    }
    rng = np.random.default_rng(0)
    shuffled = np.zeros(n)
    for _ in range(POOL_SHUFFLES):
        scores = np.full(sessions.targets.shape, -np.inf, np.float32)
        scores[row[valid], pools[valid]] = rng.random(int(valid.sum()), dtype=np.float32)
        shuffled += _ndcg10(scores, sessions)
    out["pool_random_ndcg@10"] = shuffled / POOL_SHUFFLES
    return out


def _ndcg10(scores: np.ndarray, sessions: Sessions) -> np.ndarray:
    return target_set_metrics(scores, sessions.seen, sessions.targets, (10,))["ndcg@10"]


def evaluate_sessions(
    model: Any, data: Dataset, sessions: Sessions, k: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-session metrics (``float64[B]`` each, :func:`target_set_metrics` at
    :data:`METRIC_KS`) and each session's top ``k`` (``int32[B, k]``, its own items left out,
    ties to the lower index, ``-1`` padding; empty for ``k = 0``) from one scoring pass."""
    scores = session_scores(model, data, sessions)
    metrics = target_set_metrics(scores, sessions.seen, sessions.targets, METRIC_KS)
    if not k:
        return metrics, np.zeros((len(sessions.users), 0), np.int32)
    return metrics, rank_top_k(scores, sessions.seen, k)[1]


_REPORTED = ("ndcg@10", "recall@10", "recall@20", "hr@10", "ndcg@20", "hr@20")
_COLD_REPORTED = ("hr@10", "ndcg@10", "recall@10")
_HEADROOM = ("pool_recall", "pool_oracle_ndcg@10", "pool_random_ndcg@10")


def _summarise(
    per_user: dict[str, np.ndarray], names: Sequence[str] = _REPORTED
) -> dict[str, float]:
    """Means and standard errors (``_se``: sample std / sqrt(B)) of per-session metrics."""
    out: dict[str, float] = {}
    for name in names:
        values = per_user[name]
        out[name] = float(values.mean())
        out[f"{name}_se"] = _standard_error(values)
    return out


@dataclass
class SessionReport(EvalReport):
    """One N of protocol S (:meth:`to_json` adds ``"N"``)."""

    n: int = 0
    fingerprints: dict[str, dict[str, object]] = field(default_factory=dict)
    cold: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per model: HR / NDCG / Recall@10 of the cold items (see :func:`cold_sessions`)."""
    cold_split: dict[str, int] = field(default_factory=dict)
    paired: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per model: its test NDCG@10 minus that of the best other model (``"vs"``), per session,
    with the standard error of that paired difference (the same sessions rank under both)."""
    headroom: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per model with a candidate pool (llm, fused): :func:`pool_headroom` on the test
    sessions, and ``hindsight_ndcg@10``, the best test NDCG@10 over its grid (``"hindsight"``:
    that point), a bound on what choosing its fusion better could give; for a model with a
    shipped point (:attr:`~convrec.evaluation.specs.ModelSpec.shipped`), ``shipped_ndcg@10``
    at that point (``"shipped"``)."""
    caveats: dict[str, str] = field(default_factory=dict)
    """Per model whose scores are optimistic (:func:`training_caveat`): why."""

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["N"] = self.n
        out["fingerprints"] = self.fingerprints
        if self.caveats:
            out["caveats"] = self.caveats
        if self.cold:
            out["cold"] = self.cold
            out["cold_split"] = self.cold_split
        out["paired"] = self.paired
        if self.headroom:
            out["headroom"] = self.headroom
        return out

    def table(self) -> str:
        lines = super().table().splitlines()
        lines[0] = f"{self.data} - protocol S, sessions of N={self.n} liked items"
        if self.cold:
            lines += [
                "",
                f"cold items: {self.cold_split.get('items', 0)} items without any training "
                f"interaction, ranked against each other for {self.cold_split.get('sessions', 0)}"
                " test sessions that later liked one",
                *_rows(self.cold),
            ]
        if self.paired:
            lines += ["", "NDCG@10 minus the best other model's, per test session (paired):"]
            lines += [
                f"  {name}: {p['ndcg@10_diff']:+.4f} (se {p['ndcg@10_diff_se']:.4f}) vs {p['vs']}"
                for name, p in self.paired.items()
            ]
        if self.headroom:
            lines += ["", "candidate pools on the test sessions (what re-ranking them can reach):"]
            shown = {
                n: {k: v for k, v in h.items() if not isinstance(v, dict)}
                for n, h in self.headroom.items()
            }
            lines += _rows(shown)
        if self.caveats:
            lines += ["", *(f"caveat: {name}: {why}" for name, why in self.caveats.items())]
        return "\n".join(lines)


def training_caveat(spec: ModelSpec, data: Dataset) -> str | None:
    """Why ``spec``'s scores on protocol S of ``data`` are optimistic, or ``None``: a model
    trained elsewhere (:attr:`~convrec.evaluation.specs.ModelSpec.training`), or the adapter it
    started from (``"init"``, followed down), on the same data set without ``--split S`` has
    seen the valid and test users' interactions (the sessions' targets among them) and the
    cold items'. A starting adapter that cannot be read any more (a path of its own training
    run) ends the check: nothing says on which data it was trained."""
    trained, inherited = spec.training, False
    while trained is not None and "unreadable" not in trained:
        if trained.get("data") == data.name and trained.get("split") != "S":
            who = "started from an adapter trained" if inherited else "trained"
            return (
                f"{who} on {data.name} without --split S (split {trained.get('split')}): "
                "protocol S's valid and test users and the cold items were in that training, "
                "so its scores here are optimistic"
            )
        trained, inherited = trained.get("init"), True
    return None


def run_sessions(
    data: Dataset,
    models: Iterable[ModelSpec],
    *,
    sizes: Sequence[int] = SESSION_SIZES,
    seed: int = 0,
    cold_share: float = COLD_SHARE,
    log: Callable[[str], None] = lambda _msg: None,
) -> list[SessionReport]:
    """Protocol S for each model: one :class:`SessionReport` per session size in ``sizes``.

    Every grid point is fitted once on the train users' rows; the best point per N on the
    valid sessions (NDCG@10) is scored on the test sessions. With ``cold_share > 0`` the
    chosen point is also refitted without the interactions of a seeded ``cold_share`` of the
    items (:func:`cold_items`) and scored on the test sessions that later liked one of them
    (:func:`cold_sessions`), beside the :data:`RANDOM_NAME` floor; on review data the cold
    items keep the train users' reviews as their text (:func:`with_cold_item_text`).
    """
    split = user_split(data, seed)
    prints = {
        part: fingerprint(data, np.flatnonzero(np.isin(data.user, split.users(part))))
        for part in ("train", "valid", "test")
    }
    for part, printed in prints.items():
        log(f"protocol S {part} users' rows: {printed}")
    # the diversity block: ILD's item vectors and the training popularity
    vectors, spread_features = _item_vectors(data, split.train)
    spread = (vectors, np.bincount(data.item[split.train], minlength=data.n_items))
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
        report.diversity_features = spread_features
        report.split = {
            "users": {p: len(split.users(p)) for p in ("train", "valid", "test")},
            "sessions": {"valid": len(valid[n].users), "test": len(test[n].users)},
            "rows": {"train": len(split.train)},
        }
        reports[n] = report
    cold = cold_items(data, seed, cold_share) if cold_share > 0 else np.zeros(0, np.int32)
    cold_test = {n: cold_sessions(data, split.test_users, n, cold) for n in sizes}
    warm_train = split.train[~np.isin(data.item[split.train], cold)]
    cold_data = with_cold_item_text(data, split.train, cold)
    for n in sizes:
        if len(cold) and len(cold_test[n].users) >= 2:
            reports[n].cold_split = {"items": len(cold), "sessions": len(cold_test[n].users)}
            reports[n].cold[RANDOM_NAME] = _summarise(random_floor(cold_test[n]), _COLD_REPORTED)
    per_session: dict[int, dict[str, np.ndarray]] = {n: {} for n in sizes}
    for spec in models:
        start = time.perf_counter()
        caveat = training_caveat(spec, data)
        if caveat is not None:
            log(f"warning: {spec.name}: {caveat}")
            for n in sizes:
                reports[n].caveats[spec.name] = caveat
        best: dict[int, tuple[float, dict[str, Any], Any]] = {}
        hindsight: dict[int, tuple[float, dict[str, Any]]] = {}
        shipped: dict[int, float] = {}
        for point in spec.grid:
            model = spec.factory(**dict(point)).fit(data, split.train)
            pooled = hasattr(model, "session_pools")
            for n in sizes:
                value = float(evaluate_sessions(model, data, valid[n])[0][_SELECT].mean())
                if n not in best or value > best[n][0]:
                    best[n] = (value, dict(point), model)
                if pooled:  # models with a pool: how far a better-chosen point could go
                    seen = float(evaluate_sessions(model, data, test[n])[0][_SELECT].mean())
                    if n not in hindsight or seen > hindsight[n][0]:
                        hindsight[n] = (seen, dict(point))
                    if spec.shipped is not None and dict(point) == dict(spec.shipped):
                        shipped[n] = seen
        for n in sizes:
            _, params, model = best[n]
            per_user, lists = evaluate_sessions(model, data, test[n], DIVERSITY_K)
            per_session[n][spec.name] = per_user[_SELECT]
            metrics = _summarise(per_user)
            reports[n].models[spec.name] = metrics
            reports[n].diversity[spec.name] = diversity_metrics(lists, *spread)
            reports[n].params[spec.name] = params
            if n in hindsight:
                room = _summarise(pool_headroom(model, data, test[n]), _HEADROOM)
                reports[n].headroom[spec.name] = {
                    **{k: v for k, v in room.items() if not k.endswith("_se")},
                    "hindsight_ndcg@10": hindsight[n][0],
                    "hindsight": hindsight[n][1],
                }
                if n in shipped:  # the point the product ships with, scored on test
                    reports[n].headroom[spec.name]["shipped_ndcg@10"] = shipped[n]
                    reports[n].headroom[spec.name]["shipped"] = dict(spec.shipped or {})
            log(
                f"{spec.name} N={n}: ndcg@10={metrics['ndcg@10']:.4f} "
                f"(se {metrics['ndcg@10_se']:.4f}), recall@20={metrics['recall@20']:.4f}"
            )
        refits: dict[str, Any] = {}
        for n in sizes:
            if not reports[n].cold:
                continue
            key = repr(sorted(best[n][1].items()))
            if key not in refits:
                refits[key] = spec.factory(**best[n][1]).fit(cold_data, warm_train)
            scores = session_scores(refits[key], cold_data, cold_test[n])
            per_user = target_set_metrics(scores, cold_test[n].seen, cold_test[n].targets, (10,))
            reports[n].cold[spec.name] = _summarise(per_user, _COLD_REPORTED)
        elapsed = round(time.perf_counter() - start, 3)
        for n in sizes:
            reports[n].seconds[spec.name] = elapsed
    for n in sizes:
        reports[n].paired = paired_differences(per_session[n])
    return [reports[n] for n in sizes]


def paired_differences(per_session: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per model, its per-session metric (``float[B]``, the same sessions for every model)
    minus the best other model's (highest mean): ``{"vs", "ndcg@10_diff", "ndcg@10_diff_se"}``,
    the standard error being that of the B paired differences; ``"each"`` holds the same two
    numbers against every other model (``{other: {"ndcg@10_diff", "ndcg@10_diff_se"}}``)."""
    means = {name: float(v.mean()) for name, v in per_session.items()}
    out: dict[str, dict[str, Any]] = {}
    for name, values in per_session.items():
        others = [o for o in per_session if o != name]
        if not others:
            continue
        each = {other: _paired(values, per_session[other]) for other in others}
        rival = max(others, key=lambda o: means[o])
        out[name] = {"vs": rival, **each[rival], "each": each}
    return out


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean and standard error of ``a - b`` (``float[B]`` each, the same sessions)."""
    diff = a - b
    return {"ndcg@10_diff": float(diff.mean()), "ndcg@10_diff_se": _standard_error(diff)}


def _standard_error(values: np.ndarray) -> float:
    """Sample standard deviation / sqrt(len) of ``values`` (``float[B]``); NaN below 2."""
    if len(values) < 2:
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(len(values)))


__all__ = [
    "COLD_SHARE",
    "POSITIVE_SHARE",
    "RANDOM_NAME",
    "SESSION_SIZES",
    "SessionModel",
    "SessionReport",
    "Sessions",
    "UserSplit",
    "build_sessions",
    "cold_items",
    "cold_sessions",
    "evaluate_sessions",
    "paired_differences",
    "pool_headroom",
    "positive_threshold",
    "random_floor",
    "run_sessions",
    "session_scores",
    "user_split",
    "with_cold_item_text",
]
