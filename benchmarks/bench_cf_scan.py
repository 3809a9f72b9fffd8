"""Where the CPU scorer's reach scans cross over: bitmap vs list, as fitted vs popularity layout.

For synthetic catalogues of growing size (20,000 users, about 2M interactions, the same
generator as bench_cf.py), times ``_native.score_topk`` top-10 for all users at 1 thread with
``scan="bitmap"`` and ``scan="list"``, each on the neighbour matrix as fitted and in the
popularity layout ``ItemKNN`` uses on large catalogues. Prints JSON: per catalogue size, the
best time of each variant and its speed relative to the bitmap as fitted (> 1 is faster).
``_native.BITMAP_MAX_ITEMS`` (where ``scan="auto"`` and ``ItemKNN`` switch) comes from this.

Usage: python benchmarks/bench_cf_scan.py [--json out.json] [--rounds 5]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cf import cpu_model, emit_json, interleaved_best, log, synthetic

from convrec import _native
from convrec.cf import ItemKNN, ItemLayout

SIZES = (1_682, 3_706, 8_192, 16_384, 32_768, 50_000)


def sweep(n_items: int, rounds: int) -> dict[str, Any]:
    x = synthetic(20_000, n_items, 2_000_000, seed=3, ratings=n_items < 5_000)
    model = ItemKNN(n_neighbours=50).fit(x, num_threads=2)
    sim = model.similarity_
    assert sim is not None
    layout = ItemLayout.by_popularity(sim, np.bincount(x.indices, minlength=n_items))
    hist = (x.indptr, x.indices, x.data)

    def run(scan: str, moved: bool) -> Any:
        nbr = layout.neighbours if moved else sim
        order = layout.order if moved else None
        args = (*hist, nbr.indptr, nbr.indices, nbr.data, 10, True, 0, 1, False, order, scan)
        return lambda: _native.score_topk(*args)

    variants = {
        f"{scan}{'_layout' if moved else ''}": run(scan, moved)
        for scan in ("bitmap", "list")
        for moved in (False, True)
    }
    best = interleaved_best(dict(variants), dict.fromkeys(variants, rounds))
    base = best["bitmap"]
    assert base is not None
    return {
        "seconds": best,
        "speed_vs_bitmap": {name: base / t for name, t in best.items() if t is not None},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the JSON to this file")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "bitmap_max_items": _native.BITMAP_MAX_ITEMS,
        "n_items": {},
    }
    for n_items in SIZES:
        result["n_items"][str(n_items)] = row = sweep(n_items, args.rounds)
        speeds = {k: round(v, 2) for k, v in row["speed_vs_bitmap"].items()}
        log(f"[{n_items} items] {speeds}")
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
