"""The dialogue suite's pass rates per category, with rules alone and with the descriptive-request
model; prints JSON.

    python benchmarks/bench_dialogue.py [--json out.json] [--no-model] [--suite DIR]

The Recommender is the CF-only one on MovieLens-100k (``Recommender.build``), as in the test.
"With the model" is ``Chat(rec)`` with its default reader of descriptive requests (the packaged
MiniLM); "rules alone" is ``Chat(rec, describer=False)``. ``failing`` lists every failed turn
with its reasons. See ``benchmarks/dialogue_suite.py`` for the expectations.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from dialogue_suite import SUITE_DIR, load_suite, run_suite

from convrec import Chat, Recommender
from convrec.data import find_movielens_100k, load_dataset
from convrec.dialogue.describe import build_describers, encoder_available


def _run(chat: Chat, rec: Recommender, conversations: list) -> dict:
    start = time.perf_counter()
    result = run_suite(chat, rec, conversations)
    seconds = time.perf_counter() - start
    return {
        "pass_rate": round(result.pass_rate, 3),
        "turns": len(result.turns),
        "passed": sum(t.passed for t in result.turns),
        "seconds_per_turn": round(seconds / max(1, len(result.turns)), 3),
        "by_category": result.by_category(),
        "failing": result.failing(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    parser.add_argument("--no-model", action="store_true", help="rules alone only")
    parser.add_argument("--suite", type=Path, default=SUITE_DIR)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    found = find_movielens_100k()
    if found is None:
        sys.exit("ml-100k not found: pip install --no-deps recbole==1.2.1")
    rec = Recommender.build(load_dataset(found))
    conversations = load_suite(args.suite)
    out: dict = {"conversations": len(conversations),
                 "turns": sum(len(c.turns) for c in conversations)}  # fmt: skip
    out["rules"] = _run(Chat(rec, describer=False), rec, conversations)
    if not args.no_model:
        if not encoder_available():
            out["model"] = None
            out["model_note"] = "the sentence encoder is not installed"
        else:
            describers = build_describers({rec.name: rec})
            reader = describers[rec.name]
            start = time.perf_counter()
            reader("warm up") if reader is not None else None  # load the encoder once
            out["model_load_s"] = round(time.perf_counter() - start, 2)
            out["model"] = _run(Chat(rec, describer=describers), rec, conversations)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
