"""Times batched top-10 ItemKNN scoring: convrec (1 and 2 threads) vs scipy vs implicit; JSON out.

Every figure is measured in the same run on the same machine, interleaved round by round (best
of N), so the ratios are comparable even on a shared machine. Fitting the similarity is timed
separately (``fit_s``). See benchmarks/README.md for the fields.

Usage: python benchmarks/bench_cf.py [--json out.json] [--quick]
"""

from __future__ import annotations

import os

# Single-threaded BLAS and passive OpenMP waiting, set before numpy / implicit are imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib.metadata
import json
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp

from convrec import _native
from convrec.cf import ItemKNN, oracle

K_TOP = 10
N_NEIGHBOURS = 50
SCIPY_CHUNK = 1024  # users per dense block in the scipy baseline
FIT_RUNS = 3  # similarity fits per data set: fit_s is the best, fit_runs_s all of them


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def copy_bandwidth_gbs(n_bytes: int = 256 << 20, repeat: int = 7) -> float:
    """numpy copy bandwidth, STREAM convention: (bytes read + bytes written) / second."""
    src = np.ones(n_bytes // 8, np.float64)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


# ---------------------------------------------------------------- data


def ml_100k() -> sp.csr_matrix:
    try:
        from convrec.data import load_dataset
    except ImportError:
        import importlib.util

        spec = importlib.util.find_spec("recbole")
        if spec is None or not spec.submodule_search_locations:
            raise
        path = Path(spec.submodule_search_locations[0]) / "dataset_example/ml-100k/ml-100k.inter"
        raw = np.loadtxt(path, skiprows=1, usecols=(0, 1, 2), dtype=np.int64)
        _, users = np.unique(raw[:, 0], return_inverse=True)
        _, items = np.unique(raw[:, 1], return_inverse=True)
        x = sp.csr_matrix((raw[:, 2].astype(np.float32), (users, items)))
    else:
        x = load_dataset("ml-100k").user_items()
    return canonical(x)


def canonical(x: sp.spmatrix) -> sp.csr_matrix:
    x = sp.csr_matrix(x, dtype=np.float32)
    x.sum_duplicates()
    x.sort_indices()
    x.indptr = x.indptr.astype(np.int32)
    x.indices = x.indices.astype(np.int32)
    return x


def synthetic(
    n_users: int,
    n_items: int,
    nnz: int,
    seed: int,
    zipf_a: float = 0.9,
    activity_sigma: float = 1.0,
    ratings: bool = True,
) -> sp.csr_matrix:
    """Zipf-like item popularity, log-normal user activity, distinct (user, item) pairs.

    Each user's count is drawn log-normal (scaled to the target total, clipped to [2, n_items/4]);
    items are drawn by popularity p_i ~ 1 / rank_i^a over a random permutation of the ids, and
    duplicates are topped up for a few rounds so the total lands close to ``nnz``.
    """
    rng = np.random.default_rng(seed)
    cap = n_items // 4
    raw = rng.lognormal(0.0, activity_sigma, n_users)
    want = np.clip(raw / raw.sum() * nnz, 2, cap)
    for _ in range(20):  # rescale the uncapped users until the total reaches nnz
        free = want < cap
        excess = nnz - want.sum()
        if excess < 1 or not free.any():
            break
        want[free] *= 1 + excess / want[free].sum()
        want = np.clip(want, 2, cap)
    want = np.round(want).astype(np.int64)
    pop = 1.0 / np.arange(1, n_items + 1) ** zipf_a
    cdf = np.cumsum(pop[rng.permutation(n_items)])
    cdf /= cdf[-1]
    keys = np.empty(0, np.int64)
    have = np.zeros(n_users, np.int64)
    for _ in range(12):
        deficit = want - have
        if deficit.sum() <= 0:
            break
        users = np.repeat(np.arange(n_users, dtype=np.int64), deficit)
        items = np.minimum(np.searchsorted(cdf, rng.random(users.size)), n_items - 1)
        keys = np.sort(np.concatenate([keys, users * n_items + items]))
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        have = np.bincount(keys // n_items, minlength=n_users)
        # drop the surplus of users that overshot (keep each user's first `want` keys)
        rank = np.arange(keys.size) - np.repeat(np.cumsum(have) - have, have)
        keys = keys[rank < np.repeat(want, have)]
        have = np.minimum(have, want)
    users, items = keys // n_items, keys % n_items
    if ratings:
        values = rng.integers(1, 6, users.size).astype(np.float32)
    else:
        values = np.ones(users.size, np.float32)
    return canonical(sp.csr_matrix((values, (users, items)), shape=(n_users, n_items)))


# ---------------------------------------------------------------- methods


def scipy_topk(x: sp.csr_matrix, s: sp.csr_matrix, k: int) -> np.ndarray:
    """X @ S per block of users, history masked to -inf, argpartition then sort of the k."""
    out = np.empty((x.shape[0], k), np.int32)
    for lo in range(0, x.shape[0], SCIPY_CHUNK):
        block = x[lo : lo + SCIPY_CHUNK]
        dense = (block @ s).toarray()
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        dense[rows, block.indices] = -np.inf
        part = np.argpartition(-dense, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(dense, part, axis=1), axis=1, kind="stable")
        out[lo : lo + block.shape[0]] = np.take_along_axis(part, order, axis=1)
    return out


def interleaved_best(fns: dict[str, Callable[[], Any] | None], rounds: dict[str, int]) -> dict:
    """Best wall time of each function, running them round-robin (skipping exhausted ones)."""
    best: dict[str, float | None] = {name: None for name in fns}
    for r in range(max(rounds.values())):
        for name, fn in fns.items():
            if fn is None or r >= rounds[name]:
                continue
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            prev = best[name]
            best[name] = dt if prev is None else min(prev, dt)
    return best


def bench_dataset(
    name: str, x: sp.csr_matrix, oracle_users: int | None, rounds: int, slow_rounds: int
) -> dict[str, Any]:
    n_users, n_items = x.shape
    log(f"[{name}] {n_users} users x {n_items} items, {x.nnz} interactions")
    model = ItemKNN(n_neighbours=N_NEIGHBOURS, similarity="cosine")
    fit_runs = []
    for _ in range(FIT_RUNS):
        t0 = time.perf_counter()
        model.fit(x, num_threads=max(1, min(2, _native.max_threads())))
        fit_runs.append(time.perf_counter() - t0)
    fit_s = min(fit_runs)
    s = model.similarity_
    assert s is not None
    updates = int(np.diff(s.indptr)[x.indices].sum())
    runs = " / ".join(f"{t:.2f}" for t in fit_runs)
    log(f"[{name}] fit {fit_s:.2f} s (runs {runs}), {s.nnz} neighbour edges, {updates:.3g} updates")

    recommender = None
    try:
        from implicit.nearest_neighbours import CosineRecommender
    except ImportError:
        log(f"[{name}] implicit not installed: implicit_s = null")
    else:
        recommender = CosineRecommender(K=N_NEIGHBOURS, num_threads=1)
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # implicit warns about its own internal coo -> csr
            warnings.simplefilter("ignore")
            recommender.fit(x, show_progress=False)
        log(f"[{name}] implicit fit {time.perf_counter() - t0:.2f} s")
    userids = np.arange(n_users, dtype=np.int32)

    def run_convrec(threads: int) -> Callable[[], Any]:
        return lambda: model.recommend(
            x, k=K_TOP, exclude_seen=True, num_threads=threads, backend="cpu"
        )

    fns: dict[str, Callable[[], Any] | None] = {
        "convrec_1t": run_convrec(1),
        "convrec_2t": run_convrec(2),
        "scipy": lambda: scipy_topk(x, s, K_TOP),
        "implicit": None
        if recommender is None
        else lambda: recommender.recommend(userids, x, N=K_TOP, filter_already_liked_items=True),
    }
    best = interleaved_best(
        fns,
        {"convrec_1t": rounds, "convrec_2t": rounds, "scipy": slow_rounds, "implicit": slow_rounds},
    )
    log(f"[{name}] times {best}")

    ids, _ = model.recommend(x, k=K_TOP, exclude_seen=True, num_threads=1, backend="cpu")
    ids2, _ = model.recommend(x, k=K_TOP, exclude_seen=True, num_threads=2, backend="cpu")
    if oracle_users is None or oracle_users >= n_users:
        sample = np.arange(n_users)
    else:
        sample = np.sort(np.random.default_rng(1).choice(n_users, oracle_users, replace=False))
    t0 = time.perf_counter()
    ref_ids, *_ = oracle.score_topk(x[sample], s, K_TOP, exclude_seen=True)
    match = bool(np.array_equal(ids[sample], ref_ids) and np.array_equal(ids, ids2))
    log(f"[{name}] oracle on {sample.size} users: match={match} ({time.perf_counter() - t0:.1f} s)")

    c1, c2, sc, im = best["convrec_1t"], best["convrec_2t"], best["scipy"], best["implicit"]
    assert c1 is not None and c2 is not None and sc is not None
    return {
        "fit_s": fit_s,
        "fit_runs_s": fit_runs,
        "convrec_1t_s": c1,
        "convrec_2t_s": c2,
        "scipy_s": sc,
        "implicit_s": im,
        "ids_match_oracle": match,
        "neighbour_updates_per_s_1t": updates / c1,
        "speedup_vs_scipy_1t": sc / c1,
        "speedup_vs_implicit_1t": None if im is None else im / c1,
        "thread_scaling": c1 / c2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the JSON to this file")
    parser.add_argument("--quick", action="store_true", help="skip the 10M set, fewer rounds")
    args = parser.parse_args()

    result: dict[str, Any] = {
        "copy_bandwidth_gbs": copy_bandwidth_gbs(),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "implicit": version_of("implicit"),
            "convrec_native": _native.version(),
            "openmp_max_threads": _native.max_threads(),
        },
        "datasets": {},
    }
    log(f"copy bandwidth {result['copy_bandwidth_gbs']:.1f} GB/s")
    datasets: list[tuple[str, Callable[[], sp.csr_matrix], int | None, int, int]] = [
        ("ml-100k", ml_100k, None, 7, 5),
        ("ml-1m-synth", lambda: synthetic(6_040, 3_706, 1_000_000, seed=1), 1_000, 5, 3),
    ]
    if not args.quick:
        datasets.append(
            (
                "10m-synth",
                lambda: synthetic(100_000, 50_000, 10_000_000, seed=2, ratings=False),
                2_000,
                3,
                2,
            )
        )
    for name, make, oracle_users, rounds, slow_rounds in datasets:
        t0 = time.perf_counter()
        x = make()
        log(f"[{name}] built in {time.perf_counter() - t0:.1f} s")
        if args.quick:
            rounds, slow_rounds = 2, 1
        result["datasets"][name] = bench_dataset(name, x, oracle_users, rounds, slow_rounds)
    emit_json(result, args.json)


def emit_json(result: dict[str, Any], path: Path | None) -> None:
    """Print ``result`` as JSON, and also write it to ``path`` when one is given."""
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


if __name__ == "__main__":
    main()
