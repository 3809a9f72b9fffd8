"""Explanations of recommended lists: how specific, LLM share, variety, speed.

For ml-100k (``Recommender.from_pretrained("ml-100k")``: the shipped adapter) and, when its
file is in the shared data folder, amazon-mi5 with its shipped adapter: ``--users`` known users
and ``--sessions`` sessions of 2-3 liked titles (drawn among the 300 most rated items), one list
of ``-k`` items each, explained. Prints (and writes with ``--json``) per data set:

- ``vacuous_rate``: shown explanations that state no specific fact: no liked title other than
  the item (the user's items rated >= 4, a session's titles), no number (outside titles and
  the closing "Predicted rating"), no genre;
- ``llm_pass_rate``: LLM texts the recommender's check passed (its ``grounding`` counters);
- ``llm_shown_rate``: shown explanations written by the LLM (``explanation_source``);
- ``distinct_rate``: per list, distinct sentence shapes (titles, numbers and genres masked)
  over shown explanations, averaged over lists; ``distinct_text_rate``: distinct texts over
  all shown;
- ``claims_per_explanation``: specific facts stated per shown explanation (as counted above);
- ``seconds_per_list``: mean wall time of one list, ranked and explained
  (``recommend(k=5, explain=False)`` then ``explain_items``, which writes what
  ``recommend(explain=True)`` would); ``explain_seconds_per_list``: the explaining alone.

The measures read only the shown texts, so the script runs on older convrec versions too
(the reference "before" numbers).

    python benchmarks/bench_explain.py --json out.json [--users 40 --sessions 20] [--no-llm]
        [--only ml-100k|amazon-mi5] [--adapter DIR]

``--adapter DIR`` measures a trained adapter directory (``convrec train --out DIR``) in place
of the shipped ml-100k one, on the shipped recommender's CF side (with ``--only amazon-mi5``:
in place of the amazon-mi5 one).

OpenMP's wait policy stays at its default, as ``convrec chat`` and the Python API run: forcing
``OMP_WAIT_POLICY=PASSIVE`` (as the CF benchmarks do) makes each of the decoder's many small
steps wait for sleeping threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

MI5 = Path(__file__).resolve().parents[1].parent / "shared/data/amazon-mi5"
MI5_FILE = MI5 / "reviews_Musical_Instruments_5.json.gz"
_PREDICTED = re.compile(r"\s*Predicted rating: \d(?:\.\d)?/5\.\s*$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def specifics(rec: Any, item: int, text: str, liked: set[int]) -> tuple[int, str]:
    """How many specific facts ``text`` about ``item`` states, and its shape (masked text)."""
    text = _PREDICTED.sub("", text)
    count, shape = 0, text
    for m in rec.titles.spot(text, any_case=True):
        if m.item != item and m.item in liked:
            count += 1
        words = [re.escape(w) for w in re.findall(r"[\w'’]+|\(\d{4}\)", m.text)]
        shape = re.sub(r"\W*".join(words), "<T>", shape, count=1, flags=re.I)
    count += len(_NUMBER.findall(shape))
    shape = _NUMBER.sub("<N>", shape)
    for g in sorted({g for gs in rec.data.catalog.genres for g in gs if g != "unknown"}):
        pattern = re.compile(rf"(?<![\w-]){re.escape(g.lower())}\w*", re.I)
        if pattern.search(shape):
            count += 1
            shape = pattern.sub("<G>", shape)
    return count, shape


def liked_of(rec: Any, request: dict[str, Any]) -> set[int]:
    """The liked items of a request: a user's items rated >= 4 or a session's items."""
    if request.get("user") is not None:
        return {rec.data.items.index(i) for i, r in rec.user_ratings(request["user"]) if r >= 4}
    return {rec.data.items.index(i) for i in request["history"]}


def requests(rec: Any, n_users: int, n_sessions: int, seed: int) -> list[dict[str, Any]]:
    """``n_users`` known users and ``n_sessions`` sessions of 2-3 popular titles (seeded)."""
    rng = np.random.default_rng(seed)
    users = rng.choice(rec.data.n_users, size=min(n_users, rec.data.n_users), replace=False)
    out: list[dict[str, Any]] = [{"user": rec.data.users.external[int(u)]} for u in users]
    counts = np.bincount(rec.data.item[rec.rows], minlength=rec.data.n_items)
    popular = np.argsort(-counts, kind="stable")[:300]
    for _ in range(n_sessions):
        picked = rng.choice(popular, size=int(rng.integers(2, 4)), replace=False)
        out.append({"history": [rec.data.items.external[int(i)] for i in picked]})
    return out


def measure(rec: Any, n_users: int, n_sessions: int, k: int, seed: int, examples: int) -> dict:
    """The measures over one recommender (see the module docstring)."""
    check = rec.grounding
    checked0, failed0 = check.checked, check.failed
    shown = vacuous = llm = claims = 0
    texts: list[str] = []
    distinct: list[float] = []
    seconds: list[float] = []
    explaining: list[float] = []
    sample: dict[str, list[str]] = {"users": [], "sessions": []}
    for req in requests(rec, n_users, n_sessions, seed):
        who = {"user": req.get("user"), "history": req.get("history", ())}
        start = time.perf_counter()
        bare = rec.recommend(**who, k=k, explain=False)
        ranked = time.perf_counter()
        out = rec.explain_items(bare.items, **who)  # what recommend(explain=True) writes
        seconds.append(time.perf_counter() - start)
        explaining.append(time.perf_counter() - ranked)
        liked = liked_of(rec, req)
        shapes = []
        for it in out:
            text = it.explanation or ""
            n, shape = specifics(rec, rec.data.items.index(it.item_id), text, liked)
            shown += 1
            vacuous += n == 0
            claims += n
            llm += it.explanation_source == "llm"
            texts.append(text)
            shapes.append(shape)
        distinct.append(len(set(shapes)) / max(len(shapes), 1))
        kind = "users" if req.get("user") is not None else "sessions"
        if len(sample[kind]) < examples and len(out):
            who = (
                f"user {req['user']}"
                if kind == "users"
                else " + ".join(rec.titles.display(rec.data.items.index(i)) for i in req["history"])
            )
            sample[kind].append(f"{who} -> {out[0].title}: {out[0].explanation}")
    checked, failed = check.checked - checked0, check.failed - failed0
    return {
        "lists": len(seconds),
        "shown": shown,
        "vacuous_rate": round(vacuous / max(shown, 1), 4),
        "llm_checked": checked,
        "llm_pass_rate": round(1 - failed / checked, 4) if checked else None,
        "llm_shown_rate": round(llm / max(shown, 1), 4),
        "distinct_rate": round(float(np.mean(distinct)), 4) if distinct else None,
        "distinct_text_rate": round(len(set(texts)) / max(shown, 1), 4),
        "claims_per_explanation": round(claims / max(shown, 1), 3),
        "seconds_per_list": round(float(np.mean(seconds)), 4) if seconds else None,
        "explain_seconds_per_list": round(float(np.mean(explaining)), 4) if seconds else None,
        "examples": sample,
    }


def _llm_writes(rec: Any, as_shipped: bool) -> Any:
    """``rec`` with its LLM writing every explanation, unless ``as_shipped``."""
    if as_shipped or getattr(rec.config, "llm_explanations", True):
        return rec
    rec.config = dataclasses.replace(rec.config, llm_explanations=True)
    return rec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=10, help="example texts kept per kind")
    parser.add_argument("--no-llm", action="store_true", help="CF only (no shipped adapter)")
    parser.add_argument("--only", choices=("ml-100k", "amazon-mi5"), help="one data set")
    parser.add_argument(
        "--as-shipped",
        action="store_true",
        help="keep each adapter's shipped llm_explanations setting (default: let the LLM write "
        "every explanation, to measure how many of its texts pass the fact check)",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--adapter", type=Path, help="an adapter directory in place of the shipped one"
    )
    args = parser.parse_args(argv)
    if args.users < 0 or args.sessions < 0 or args.k <= 0:
        parser.error("--users and --sessions must be >= 0, -k > 0")
    if args.adapter is not None and not (args.adapter / "convrec_config.json").is_file():
        parser.error(f"--adapter {args.adapter}: not an adapter directory (no convrec_config.json)")

    from convrec import Recommender

    result: dict[str, Any] = {"k": args.k, "users": args.users, "sessions": args.sessions}
    if args.only in (None, "ml-100k"):
        start = time.perf_counter()
        if args.adapter is not None and args.only != "amazon-mi5":
            rec = Recommender.from_pretrained("ml-100k", llm=False).with_adapter(args.adapter)
        else:
            rec = Recommender.from_pretrained("ml-100k", llm=not args.no_llm)
        entry = {"load_s": round(time.perf_counter() - start, 2), "llm": rec.llm is not None}
        rec = _llm_writes(rec, args.as_shipped)
        entry["llm_explanations"] = rec.config.llm_explanations
        entry.update(measure(rec, args.users, args.sessions, args.k, args.seed, args.examples))
        result["ml-100k"] = entry
    if MI5_FILE.is_file() and args.only in (None, "amazon-mi5"):
        from convrec.llm.shipped import shipped_adapter
        from convrec.recommender.domains import load_domain

        adapter = shipped_adapter("amazon-mi5")
        if args.adapter is not None and args.only == "amazon-mi5":
            adapter = args.adapter
        start = time.perf_counter()
        mi5 = load_domain("amazon-mi5", str(MI5_FILE))
        if adapter is not None and not args.no_llm:
            mi5 = mi5.with_adapter(adapter)
        entry = {"load_s": round(time.perf_counter() - start, 2), "llm": mi5.llm is not None}
        mi5 = _llm_writes(mi5, args.as_shipped)
        entry["llm_explanations"] = mi5.config.llm_explanations
        entry.update(measure(mi5, args.users, args.sessions, args.k, args.seed, args.examples))
        result["amazon-mi5"] = entry
    text = json.dumps(result, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
