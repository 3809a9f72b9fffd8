"""SequentialLinear on a synthetic catalogue beyond the dense limit: seconds and peak RSS; JSON out.

The data is MovieLens-shaped and seeded: Zipf item popularity, log-normal history lengths,
and sequential structure (half of the steps move to an item near the previous one), so
the transition regression has something to find. ``solver="auto"`` takes the sparse solve
above :data:`~convrec.cf.seqlinear.MAX_ITEMS` items; the JSON says which ran.

Usage: python benchmarks/bench_seqlinear_scale.py [--items 60000] [--users 20000]
       [--interactions 2000000] [--window 50] [--solver auto] [--json out.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import resource
import time
from typing import Any

import numpy as np

from convrec.cf.seqlinear import SequentialLinear
from convrec.data.dataset import Dataset, build_dataset


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(n_items: int, n_users: int, n_interactions: int, seed: int = 0) -> Dataset:
    """A seeded MovieLens-shaped Dataset (about ``n_interactions`` rows, no repeated pair)."""
    rng = np.random.default_rng(seed)
    lengths = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    lengths = np.maximum(5, np.round(lengths / lengths.sum() * n_interactions)).astype(np.int64)
    lengths = np.minimum(lengths, n_items // 2)
    total = int(lengths.sum())
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    jump = rng.choice(n_items, size=total, p=popularity / popularity.sum())
    step = rng.geometric(0.05, size=total) * rng.choice([-1, 1], size=total)
    local = rng.random(total) < 0.5
    user = np.repeat(np.arange(n_users), lengths)
    start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    item = jump.copy()
    for t in np.flatnonzero(local & (np.arange(total) > start)):
        item[t] = (item[t - 1] + step[t]) % n_items
    _, first = np.unique(user * np.int64(n_items) + item, return_index=True)
    first.sort()
    user, item = user[first], item[first]
    stamp = (np.arange(len(user)) - np.repeat(np.cumsum(lengths) - lengths, lengths)[first]) * 60
    return build_dataset(
        "synthetic",
        source="memory",
        user_ids=user,
        item_ids=item,
        rating=np.full(len(user), 4.0),
        timestamp=(1_000_000_000 + stamp).astype(np.int64),
        lines=np.arange(1, len(user) + 1),
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=60_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--window", type=int, default=SequentialLinear.window)
    parser.add_argument("--candidates", type=int, default=SequentialLinear.candidates)
    parser.add_argument("--gram-neighbours", type=int, default=SequentialLinear.gram_neighbours)
    parser.add_argument("--solver", default="auto", choices=("auto", "dense", "sparse"))
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    data = synthetic(args.items, args.users, args.interactions)
    build_s = time.perf_counter() - t0
    rss_data = peak_rss_mib()
    model = SequentialLinear(
        window=args.window,
        solver=args.solver,
        candidates=args.candidates,
        gram_neighbours=args.gram_neighbours,
    )
    rows = np.arange(data.n_interactions)
    t0 = time.perf_counter()
    x, _ = model.examples(data, rows)
    examples_nnz = int(x.nnz)
    del x
    t1 = time.perf_counter()
    model.fit(data, rows)
    fit_s = time.perf_counter() - t1
    result = {
        "n_items": data.n_items,
        "n_users": data.n_users,
        "n_interactions": data.n_interactions,
        "window": args.window,
        "candidates": args.candidates,
        "gram_neighbours": args.gram_neighbours,
        "solver": "dense" if model.dense_solve(data.n_items) else "sparse",
        "examples_nnz": examples_nnz,
        "examples_s": round(t1 - t0, 1),
        "neighbours_nnz": int(model.neighbours_.nnz),
        "build_data_s": round(build_s, 1),
        "fit_s": round(fit_s, 1),
        "peak_rss_mib_after_data": round(rss_data),
        "peak_rss_mib": round(peak_rss_mib()),
        "dense_would_need_mib": round(2 * data.n_items**2 * 8 / 2**20),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
