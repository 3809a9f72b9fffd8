"""SequentialLinear's dense and sparse (candidate-restricted) solves on protocol B; JSON out.

Both are run through :func:`convrec.evaluation.run_protocol` (protocol B: leave-last-out,
``tau_long`` and ``l2`` chosen on valid from the ``cf_seqlinear`` grid), then each chosen
model is refitted on train+valid to give the per-user test NDCG@10, its standard error and
the standard error of the paired dense - sparse difference (the noise the two are compared
against); ``sparse_at_dense_params`` repeats the comparison with the sparse solve at the
dense solve's chosen parameters, which leaves the solver's error alone.

Usage: python benchmarks/bench_seqlinear_solvers.py --data ml-100k [--candidates 256]
       [--gram-neighbours 1024] [--json out.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import functools
import json
import sys
from typing import Any

import numpy as np

from convrec.cf.seqlinear import SequentialLinear
from convrec.data import load_dataset
from convrec.data.dataset import Dataset
from convrec.evaluation import run_protocol
from convrec.evaluation.metrics import pessimistic_rank, ranking_metrics
from convrec.evaluation.specs import ModelSpec, ranking_model_specs
from convrec.evaluation.splits import leave_last_out_split


def per_user_ndcg(model: SequentialLinear, data: Dataset) -> np.ndarray:
    """``float64[test users]`` NDCG@10 of the model refitted on train+valid (protocol B)."""
    split = leave_last_out_split(data)
    model.fit(data, split.part("train+valid"))
    targets = split.part("test")
    users = data.user[targets]
    history = data.user_items(split.part("train+valid"), values="ones")[users]
    scores = np.asarray(model.score_items(users), dtype=np.float64)
    ranks = pessimistic_rank(scores, data.item[targets].astype(np.int64), history)
    return np.array([ranking_metrics(r[None], ks=(10,))["ndcg@10"] for r in ranks])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-100k", help="ml-100k or a data file / directory")
    parser.add_argument("--candidates", type=int, default=SequentialLinear.candidates)
    parser.add_argument("--gram-neighbours", type=int, default=SequentialLinear.gram_neighbours)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    data = load_dataset(args.data)
    grid = next(s.grid for s in ranking_model_specs() if s.name == "cf_seqlinear")
    sparse = functools.partial(
        SequentialLinear,
        solver="sparse",
        candidates=args.candidates,
        gram_neighbours=args.gram_neighbours,
    )
    specs = {
        "dense": ModelSpec("dense", functools.partial(SequentialLinear, solver="dense"), grid),
        "sparse": ModelSpec("sparse", sparse, grid),
    }
    report = run_protocol(data, "B", specs.values(), log=lambda m: print(m, file=sys.stderr))
    chosen = {
        name: {k: v for k, v in report.params[name].items() if k in grid[0]} for name in specs
    }
    ndcg = {name: per_user_ndcg(spec.factory(**chosen[name]), data) for name, spec in specs.items()}
    # the solver's error alone: the sparse solve at the dense solve's chosen parameters
    same = per_user_ndcg(sparse(**chosen["dense"]), data)
    diff, diff_same = ndcg["dense"] - ndcg["sparse"], ndcg["dense"] - same
    n = len(diff)
    result = {
        "data": data.name,
        "n_items": data.n_items,
        "test_users": n,
        "candidates": args.candidates,
        "gram_neighbours": args.gram_neighbours,
        "solvers": {
            name: {
                "ndcg@10": report.models[name]["ndcg@10"],
                "hr@10": report.models[name]["hr@10"],
                "ndcg@10_se": float(ndcg[name].std(ddof=1) / np.sqrt(n)),
                "ndcg@10_refit": float(ndcg[name].mean()),
                "params": report.params[name],
                "fit_seconds": report.fit_seconds[name],
            }
            for name in specs
        },
        "ndcg@10_dense_minus_sparse": float(diff.mean()),
        "ndcg@10_difference_se": float(diff.std(ddof=1) / np.sqrt(n)),
        "sparse_at_dense_params": {
            "ndcg@10": float(same.mean()),
            "ndcg@10_se": float(same.std(ddof=1) / np.sqrt(n)),
            "ndcg@10_dense_minus_sparse": float(diff_same.mean()),
            "ndcg@10_difference_se": float(diff_same.std(ddof=1) / np.sqrt(n)),
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
