"""Evaluation splits of the protocols (random 80/10/10, leave-last-out) and their fingerprints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from convrec.data.dataset import Dataset


@dataclass(frozen=True)
class Split:
    """Row indices (into the dataset's interactions, source order) of one split.

    Attributes
    ----------
    kind : str
        ``"random"`` (protocols A and C-rating) or ``"leave-last-out"`` (B, C-ranking).
    train, valid, test : numpy.ndarray
        ``int64`` row indices. Random: permutation order. Leave-last-out: train in
        source order, valid and test one row per user in user order.
    """

    kind: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def part(self, name: str) -> np.ndarray:
        """Rows of ``"train"``, ``"valid"``, ``"test"`` or ``"train+valid"``."""
        if name == "train+valid":
            return np.concatenate([self.train, self.valid])
        if name not in ("train", "valid", "test"):
            raise ValueError(f"unknown split part {name!r}")
        return np.asarray(getattr(self, name))


def random_split(
    data: Dataset, seed: int = 0, fractions: tuple[float, float] = (0.8, 0.1)
) -> Split:
    """Protocol A: a seeded permutation of the rows in file order, cut 80/10/10.

    ``numpy.random.default_rng(seed).permutation(n)``; train = the first 80 %,
    valid = the next 10 %, test = the rest.
    """
    n = data.n_interactions
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    n_train = round(n * fractions[0])
    n_valid = round(n * fractions[1])
    return Split(
        "random", perm[:n_train], perm[n_train : n_train + n_valid], perm[n_train + n_valid :]
    )


def leave_last_out_split(data: Dataset) -> Split:
    """Protocol B: per user, sorted by (timestamp, item id): last = test, second-last = valid.

    Users are visited in internal order (external id order for integer ids).
    The item order key is the external item id, compared numerically when the
    ids are integers (as ``numpy.lexsort((item, timestamp, user))`` over ids).
    Users with fewer than three interactions keep everything in train except
    the last (test) when they have two, and only train when they have one.
    """
    item_key = data.item  # internal order == external order (numeric or lexicographic)
    order = np.lexsort((item_key, data.timestamp, data.user)).astype(np.int64)
    user_sorted = data.user[order]
    bounds = np.flatnonzero(np.diff(user_sorted)) + 1
    ends = np.append(bounds, len(order))
    starts = np.insert(bounds, 0, 0)
    counts = ends - starts
    test_pos = ends[counts >= 2] - 1
    valid_pos = ends[counts >= 3] - 2
    held = np.zeros(len(order), dtype=bool)
    held[test_pos] = True
    held[valid_pos] = True
    return Split("leave-last-out", np.sort(order[~held]), order[valid_pos], order[test_pos])


def fingerprint(data: Dataset, rows: np.ndarray) -> dict[str, object]:
    """sha256 over lines ``f"{user_id}\\t{item_id}\\n"`` in split order, plus counts and sums.

    Sums of user and item ids are taken over the external ids when they are
    integers (as in MovieLens), else over internal indices.
    """
    users = np.asarray(data.users.external, dtype=object)[data.user[rows]]
    items = np.asarray(data.items.external, dtype=object)[data.item[rows]]
    digest = hashlib.sha256()
    digest.update("".join(f"{u}\t{i}\n" for u, i in zip(users, items, strict=True)).encode())
    out: dict[str, object] = {"n": len(rows), "sha256": digest.hexdigest()}
    for label, ids, idx in (("user_id", users, data.user), ("item_id", items, data.item)):
        try:
            out[f"sum_{label}"] = int(np.asarray(ids, dtype=np.int64).sum())
        except (TypeError, ValueError):
            out[f"sum_{label}"] = int(idx[rows].astype(np.int64).sum())
    out["sum_rating"] = float(data.rating[rows].astype(np.float64).sum())
    return out
