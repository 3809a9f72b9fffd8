"""Times chat turns on the embedded default (ML-100k): p50 / p95 of a recommendation and a why turn.

Prints JSON and writes it with --json. The recommendation turn asks for 3 items, each with its
grounded explanation; the why turn follows it and asks about the first item shown. The record
says which sources were loaded: by default the embedded default as `convrec chat` serves it (CF,
content and the LLM of the shipped ml-100k adapter, whose candidate scores and explanations are
part of each turn); --adapter none times CF and content alone, --adapter DIR another adapter.
OpenMP's wait policy stays at its default, as `convrec chat` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time

import numpy as np

from convrec import Recommender
from convrec.dialogue import Chat

LIKED = [
    "Star Wars", "Fargo", "Toy Story", "The Godfather", "Pulp Fiction", "Alien", "Heat",
    "Casablanca", "The Shawshank Redemption", "Twelve Monkeys", "Jurassic Park", "Titanic",
]  # fmt: skip
FIRST_ITEM = re.compile(r"^1\. \*\*(.+?)\*\*", re.M)


def percentiles(times: list[float]) -> dict[str, float]:
    return {
        "p50_s": float(np.percentile(times, 50)),
        "p95_s": float(np.percentile(times, 95)),
        "n": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--turns", type=int, default=60, help="conversations to time")
    parser.add_argument(
        "--adapter",
        default=None,
        help="'none' (CF only) or an adapter directory (default: the shipped one)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()

    import torch

    from convrec.recommender.domains import with_adapter

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.adapter is None:
        rec = Recommender.from_pretrained("ml-100k")
    else:
        rec = Recommender.from_pretrained("ml-100k", llm=False)
        rec = with_adapter(rec, None if args.adapter == "none" else args.adapter)
    startup = time.perf_counter() - start
    chat = Chat(rec)
    chat.respond("hello", [])  # warm-up: builds the parser and the title index

    recommend_times, why_times = [], []
    for t in range(args.turns):
        a, b = LIKED[t % len(LIKED)], LIKED[(3 * t + 1) % len(LIKED)]
        message = f"I loved {a} and {b}, give me 3"
        start = time.perf_counter()
        reply = chat.respond(message, [])
        recommend_times.append(time.perf_counter() - start)
        first = FIRST_ITEM.search(reply.text)
        if first is None:
            raise RuntimeError(f"no ranked list in the reply to {message!r}: {reply.text[:200]}")
        history = [
            {"role": "user", "content": message},
            {"role": "assistant", "content": reply.text},
        ]
        start = time.perf_counter()
        chat.respond(f"why {first.group(1)}?", history)
        why_times.append(time.perf_counter() - start)

    result = {
        "recommend_turn": percentiles(recommend_times),
        "why_turn": percentiles(why_times),
        "startup_s": startup,
        "sources": {"cf": True, "cbf": rec.cbf is not None, "llm": rec.llm is not None},
        "llm_candidates": rec.config.llm_candidates if rec.llm is not None else 0,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    text = json.dumps(result, indent=1, sort_keys=True)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
