"""Times ItemKNN fit and recommend against scipy (X @ S, then argpartition); prints JSON."""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
import scipy.sparse as sp

from convrec import _native
from convrec.cf import ItemKNN


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def scipy_topk(x: sp.csr_matrix, s: sp.csr_matrix, k: int) -> np.ndarray:
    scores = (x @ s).toarray()
    scores[x.nonzero()] = -np.inf
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def main(n_users: int = 943, n_items: int = 1682, nnz: int = 100_000, k: int = 10) -> None:
    rng = np.random.default_rng(0)
    flat = rng.choice(n_users * n_items, size=nnz, replace=False)
    x = sp.csr_matrix(
        (rng.integers(1, 6, nnz).astype(np.float32), (flat // n_items, flat % n_items)),
        shape=(n_users, n_items),
    )
    model = ItemKNN(n_neighbours=50)
    threads = _native.max_threads()
    out: dict[str, object] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "shape": [n_users, n_items],
        "nnz": nnz,
        "k": k,
        "fit_s": best_of(lambda: model.fit(x, num_threads=threads), 3),
    }
    s = model.similarity_
    for t in sorted({1, threads}):
        out[f"recommend_{t}thr_s"] = best_of(lambda t=t: model.recommend(x, k=k, num_threads=t))
    out["scipy_matmul_argpartition_s"] = best_of(lambda: scipy_topk(x, s, k))
    ids, _ = model.recommend(x, k=k)
    out["top1_agree_with_scipy"] = float((ids[:, 0] == scipy_topk(x, s, k)[:, 0]).mean())
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
