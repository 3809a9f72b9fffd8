"""Time and peak RSS of each stage at scale: load, protocol B per CF model, Recommender, chat.

The data is a MovieLens-shaped set of N interactions written as a MovieLens CSV directory
(``scale_data.py``), or a real ml-25m / ml-32m directory (``--data DIR``); both go through
``convrec.data.load_dataset``. Each stage runs in a fresh Python process so its peak RSS is its
own (see benchmarks/README.md). The JSON goes to stdout and, with ``--json``, replaces the run
of the same size (and data) in that file, so a curve accumulates.

Usage: python benchmarks/bench_scale.py --interactions 1000000 [--json out.json] [--threads 2]
       python benchmarks/bench_scale.py --data path/to/ml-25m [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("bench_scale")

MODELS = ("cf_itemknn", "cf_seqknn", "cf_seqlinear")
STAGES = ("load", *MODELS, "recommender")
PIPELINE = ("load", *MODELS, "recommender_build")
"""The stages ``total_seconds`` adds up (the chat turn is reported by its percentiles)."""
"""Child processes, in order; ``recommender`` reports two stages: ``recommender_build`` and
``chat_turn``."""
RSS_METHOD = (
    "each stage runs in a fresh Python process (subprocess); peak_rss_gb is that process's "
    "VmHWM from /proc/self/status (ru_maxrss where there is no /proc) when the stage ends, so "
    "it includes the interpreter, the imports and the dataset (the stages after load read it "
    "from an npz cache the load stage wrote); base_rss_gb is the same peak just before the "
    "timed work. chat_turn runs in the process that built the Recommender, so its peak "
    "includes the build."
)


def peak_rss_gb() -> float:
    """This process's peak resident set (VmHWM; ``ru_maxrss`` where there is no /proc), GB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) * 1024 / 1e9, 3)
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9, 3)


def machine() -> dict[str, Any]:
    """CPU model, logical cores, memory, Python, numpy and OS of this machine."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    memory = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) * 1024 / 1e9, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "os": platform.platform(),
    }


# ---------------------------------------------------------------- the stages (child processes)


def stage_load(source: Path, cache: Path) -> dict[str, Any]:
    """Read the MovieLens directory; the dataset is then saved for the later stages (untimed)."""
    from convrec.data import load_dataset
    from convrec.data.store import save_dataset

    base = peak_rss_gb()
    start = time.perf_counter()
    data = load_dataset(source)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"seconds": round(seconds, 3), "peak_rss_gb": peak_rss_gb(),
                           "base_rss_gb": base}  # fmt: skip
    out.update(users=data.n_users, items=data.n_items, interactions=data.n_interactions)
    out["shape"] = data_shape(data)
    save_dataset(data, cache)
    return {"load": out}


def data_shape(data: Any) -> dict[str, float]:
    """How MovieLens-like the set is: popularity and activity skew, ratings, density."""
    import numpy as np

    per_item = np.sort(np.bincount(data.item, minlength=data.n_items))[::-1]
    per_user = np.bincount(data.user, minlength=data.n_users)
    n = max(1, data.n_interactions)
    return {
        "density": round(n / max(1, data.n_users * data.n_items), 6),
        "top_item_share": round(float(per_item[0]) / n, 5),
        "top_10pct_items_share": round(float(per_item[: max(1, data.n_items // 10)].sum()) / n, 4),
        "item_ratings_median": float(np.median(per_item)),
        "user_ratings_min": int(per_user.min()),
        "user_ratings_median": float(np.median(per_user)),
        "user_ratings_max": int(per_user.max()),
        "rating_mean": round(float(data.rating.mean()), 3),
    }


def stage_model(name: str, cache: Path, grid: bool) -> dict[str, Any]:
    """Protocol B (leave-last-out, full ranking of the test item) of one CF model, as
    ``convrec eval --protocol B --models NAME`` runs it; one fit on train+valid with the
    model's defaults unless ``grid`` (then every grid point is fitted and scored on valid)."""
    from dataclasses import replace

    from convrec.data.store import load_saved_dataset
    from convrec.evaluation import run_protocol, select_models

    data = load_saved_dataset(cache)
    (spec,) = select_models("B", name)
    if not grid:
        spec = replace(spec, grid=({},))
    base = peak_rss_gb()
    start = time.perf_counter()
    try:
        report = run_protocol(data, "B", [spec], log=log.info)
    except (ValueError, MemoryError) as err:  # e.g. SequentialLinear's catalogue limit
        log.warning("%s refused: %s", name, err)
        return {name: {"skipped": str(err)}}
    return {
        name: {
            "seconds": round(time.perf_counter() - start, 3),
            "peak_rss_gb": peak_rss_gb(),
            "base_rss_gb": base,
            "fit_seconds": report.fit_seconds[name],
            "score_seconds": report.score_seconds[name],
            "params": report.params[name],
            "ndcg@10": report.models[name].get("ndcg@10"),
            "test_users": report.split["leave_last_out"]["test"],
        }
    }


def stage_recommender(cache: Path, turns: int) -> dict[str, Any]:
    """``Recommender.build`` (CF only), then ``turns`` first chat turns naming two liked titles
    (CF only, no describer): their p50 / p95 wall time."""
    import numpy as np

    from convrec import Chat, Recommender
    from convrec.data.store import load_saved_dataset

    data = load_saved_dataset(cache)
    base = peak_rss_gb()
    start = time.perf_counter()
    rec = Recommender.build(data)
    build = {"seconds": round(time.perf_counter() - start, 3), "peak_rss_gb": peak_rss_gb(),
             "base_rss_gb": base}  # fmt: skip
    start = time.perf_counter()
    chat = Chat(rec, describer=False)
    setup = time.perf_counter() - start
    titles = [s.title for s in rec.popular_items(2 * turns)]
    times, listed, understood = [], 0, 0
    for t in range(turns):
        message = f"I loved {titles[2 * t]} and {titles[2 * t + 1]}, give me 5"
        start = time.perf_counter()
        reply = chat.respond(message)
        times.append(time.perf_counter() - start)
        listed += len(reply.items) == 5
        understood += len(reply.state.liked) == 2
    p50, p95 = (round(float(v), 4) for v in np.percentile(times, [50, 95]))
    chat_stage = {
        "seconds": p50,
        "p50_seconds": p50,
        "p95_seconds": p95,
        "max_seconds": round(max(times), 4),
        "turns": turns,
        "turns_listing_5": listed,
        "turns_with_both_titles_understood": understood,
        "setup_seconds": round(setup, 3),
        "peak_rss_gb": peak_rss_gb(),
        "example": f"I loved {titles[0]} and {titles[1]}, give me 5",
    }
    return {"recommender_build": build, "chat_turn": chat_stage}


def child(args: argparse.Namespace) -> None:
    """Run one stage in this (fresh) process; write its result as JSON to ``args.result``."""
    cache = Path(args.cache)
    with contextlib.suppress(OSError):  # on a shared machine, the first to go if memory runs out
        Path("/proc/self/oom_score_adj").write_text("1000")
    if args.child == "load":
        result = stage_load(Path(args.source), cache)
    elif args.child in MODELS:
        result = stage_model(args.child, cache, args.grid)
    elif args.child == "recommender":
        result = stage_recommender(cache, args.turns)
    else:
        raise SystemExit(f"unknown stage {args.child!r}")
    Path(args.result).write_text(json.dumps(result))


# ---------------------------------------------------------------- the parent


def skipped(stage: str, why: str) -> dict[str, Any]:
    """The result of a stage that did not finish: ``{"skipped": why}`` for each it reports."""
    log.warning("stage %s: %s", stage, why)
    names = ("recommender_build", "chat_turn") if stage == "recommender" else (stage,)
    return {name: {"skipped": why} for name in names}


def run_stage(stage: str, args: argparse.Namespace, source: Path, work: Path) -> dict[str, Any]:
    """``stage`` in a fresh interpreter with ``args.threads`` BLAS / OpenMP threads."""
    result = work / f"{stage}.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", stage,
               "--source", str(source), "--cache", str(work / "cache"), "--result", str(result),
               "--turns", str(args.turns)] + [f"--{flag}" for flag in ("grid", "progress")
                                              if getattr(args, flag)]  # fmt: skip
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads, "OMP_WAIT_POLICY": "PASSIVE"}  # fmt: skip
    log.info("stage %s: start", stage)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, check=False, timeout=args.stage_timeout)
    except subprocess.TimeoutExpired:
        if stage == "load":
            raise SystemExit(f"loading took over --stage-timeout {args.stage_timeout} s") from None
        return skipped(stage, f"stopped after {args.stage_timeout:g} s (--stage-timeout)")
    if done.returncode != 0 or not result.is_file():
        why = f"exit status {done.returncode}" + (" (killed: out of memory?)" if done.returncode
                                                  == -9 else "")  # fmt: skip
        if stage == "load":
            raise SystemExit(f"stage load failed: {why}")
        return skipped(stage, f"failed: {why}")
    out: dict[str, Any] = json.loads(result.read_text())
    log.info("stage %s: done in %.1f s (process wall), %s", stage,
             time.perf_counter() - start, json.dumps(out))  # fmt: skip
    return out


def merge_json(path: Path, machine_info: dict[str, Any], run: dict[str, Any]) -> None:
    """Replace the run of the same ``interactions`` and ``data`` in ``path``, or add it."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    key = (run["interactions_asked"], run["data"])
    runs = [r for r in old.get("runs", []) if (r.get("interactions_asked"), r.get("data")) != key]
    runs = sorted([*runs, run], key=lambda r: (r["data"] != "synthetic", r["interactions"]))
    payload = {"machine": machine_info, "rss_method": RSS_METHOD, "runs": runs}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(path)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--interactions", type=int, help="generate this many interactions")
    what.add_argument("--data", help="a real MovieLens CSV directory (ratings.csv, movies.csv)")
    p.add_argument("--json", help="file whose run of this size is replaced (or added)")
    p.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP threads (default 2)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--whole-stars", action="store_true", help="ratings 1..5 (as ml-1m)")
    p.add_argument("--turns", type=int, default=20, help="chat turns timed (default 20)")
    p.add_argument("--grid", action="store_true", help="protocol B's whole grid per model")
    p.add_argument("--stages", default=",".join(STAGES), help=f"subset of {','.join(STAGES)}")
    p.add_argument(
        "--stage-timeout",
        type=float,
        help="stop a stage after this many seconds and record it as skipped (default: none)",
    )
    p.add_argument("--progress", action="store_true", help="draw convrec's progress bars")
    p.add_argument("--workdir", help="keep the generated data and cache here (default: temp)")
    for hidden in ("--child", "--source", "--cache", "--result"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is None and args.interactions is None and args.data is None:
        p.error("give --interactions N or --data DIR")
    if args.turns < 1 or args.threads < 1:
        p.error("--turns and --threads must be >= 1")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or "load" not in stages:
        p.error(f"--stages: choose from {', '.join(STAGES)} (load is needed), got {args.stages}")
    args.stages = stages
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("convrec").setLevel(logging.INFO if args.progress else logging.WARNING)
    if args.child is not None:
        child(args)
        return {}
    from scale_data import generate

    with tempfile.TemporaryDirectory(prefix="bench_scale-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        run: dict[str, Any] = {}
        if args.data is not None:
            source = Path(args.data).expanduser()
            run.update(data=source.name, interactions_asked=None)
        else:
            source = work / f"ml-synth-{args.interactions}"
            log.info("generate %d interactions into %s: start", args.interactions, source)
            start = time.perf_counter()
            shape = generate(source, args.interactions, seed=args.seed,
                             whole_stars=args.whole_stars)  # fmt: skip
            seconds = round(time.perf_counter() - start, 3)
            log.info("generate: done in %.1f s, %s", seconds, shape)
            run.update(data="synthetic", interactions_asked=args.interactions, seed=args.seed,
                       generate_seconds=seconds)  # fmt: skip
        stages: dict[str, Any] = {}
        for stage in args.stages:
            stages.update(run_stage(stage, args, source, work))
    sizes = stages["load"]
    timed = [s for s in stages.values() if "seconds" in s]
    run.update(
        interactions=sizes["interactions"],
        users=sizes["users"],
        items=sizes["items"],
        threads=args.threads,
        protocol_b_grid="full" if args.grid else "model defaults, one fit on train+valid",
        stages=stages,
        total_seconds=round(
            sum(s["seconds"] for k, s in stages.items() if k in PIPELINE and "seconds" in s), 3
        ),
        peak_rss_gb=max(s["peak_rss_gb"] for s in timed),
    )
    info = machine()
    if args.json:
        merge_json(Path(args.json), info, run)
    print(json.dumps({"machine": info, "rss_method": RSS_METHOD, "runs": [run]}, indent=1))
    return run


if __name__ == "__main__":
    main()
