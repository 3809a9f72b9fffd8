"""Fuzzes the chat entry point for many turns: multi-turn conversations with the history carried.

Each conversation starts from a generated history (Gradio messages, pairs, or something
malformed), then sends --per-conversation generated messages, each with its own k and alpha,
carrying the replies on as Gradio would (a refused k / alpha leaves the history as it was). The
generators are the strategies of tests/test_chat_fuzz.py (unicode, control characters, markup,
numbers, titles in noise, very long texts, non-text messages; odd k / alpha / history values),
drawn by hypothesis from --seed.

The chat is CF-only MovieLens-100k (``Recommender.build(load_dataset("ml-100k"))``). Counted per
turn: an uncaught exception (anything but the documented ValueError for a bad k or alpha, or no
ValueError for one), a reply containing "Sorry" (the chat's error guard), a reply that is not a
non-empty str, the refused k / alpha values, and the latency of each answered turn
(time.perf_counter around ``Chat.respond``). ERROR log records of the chat are counted by
message. Prints JSON; --json also writes it.

    nice -n 10 python benchmarks/bench_fuzz.py --turns 10000 --json fuzz.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from convrec import Chat, Recommender
from convrec.data import load_dataset

STRATEGIES = Path(__file__).resolve().parents[1] / "tests" / "test_chat_fuzz.py"


def load_strategies() -> Any:
    """The module tests/test_chat_fuzz.py (its strategies and validity rules)."""
    spec = importlib.util.spec_from_file_location("chat_fuzz", STRATEGIES)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the fuzz strategies from {STRATEGIES}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Counted(logging.Handler):
    """Counts ERROR records by message (the chat logs a malformed history and a failed turn)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.getMessage()] += 1


def shown(value: object) -> str:
    return repr(value)[:160]


class Tally:
    """What the run saw, turn by turn."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.turns = self.conversations = self.refused = 0
        self.uncaught = self.sorry = self.bad_replies = self.accepted_bad = 0
        self.latency: list[float] = []
        self.examples: list[dict[str, str]] = []

    def example(self, kind: str, message: object, k: object, alpha: object, what: str) -> None:
        if len(self.examples) < 10:
            seen = {"kind": kind, "message": shown(message), "k": shown(k), "alpha": shown(alpha)}
            self.examples.append({**seen, "what": what[:300]})


def turn(
    chat: Chat, tally: Tally, fuzz: Any, history: Any, message: Any, k: Any, alpha: Any
) -> Any:
    """One respond call, counted; the history to carry on (unchanged after a refusal, as a
    client would retry)."""
    valid = fuzz.k_is_valid(k) and fuzz.alpha_is_valid(alpha)
    tally.turns += 1
    start = time.perf_counter()
    try:
        reply = chat.respond(message, history, k=k, alpha=alpha)
    except ValueError as err:
        if valid:
            tally.uncaught += 1
            tally.example("uncaught", message, k, alpha, f"ValueError: {err}")
        else:
            tally.refused += 1
        return history
    except Exception as err:  # what the fuzz run is looking for
        tally.uncaught += 1
        tally.example("uncaught", message, k, alpha, f"{type(err).__name__}: {err}")
        return history
    tally.latency.append(time.perf_counter() - start)
    if not valid:
        tally.accepted_bad += 1
        tally.example("accepted bad k / alpha", message, k, alpha, reply.text)
    if not isinstance(reply.text, str) or not reply.text.strip():
        tally.bad_replies += 1
        tally.example("bad reply", message, k, alpha, shown(reply.text))
        return history
    if "Sorry" in reply.text:
        tally.sorry += 1
        tally.example("sorry", message, k, alpha, reply.text)
    base = list(history) if isinstance(history, list) else []
    return [
        *base,
        {"role": "user", "content": message},
        {"role": "assistant", "content": reply.text},
    ]


def run(chat: Chat, fuzz: Any, turns: int, per_conversation: int, run_seed: int) -> Tally:
    """Conversations until ``turns`` turns are done (rounds of hypothesis examples, the seed
    moving on by one a round)."""
    tally = Tally(turns)
    step = st.tuples(fuzz.messages, fuzz.ks, fuzz.alphas)
    plan = st.tuples(
        fuzz.histories, st.lists(step, min_size=per_conversation, max_size=per_conversation)
    )
    rounds = 0
    while tally.turns < turns:

        @seed(run_seed + rounds)
        @settings(
            max_examples=math.ceil((turns - tally.turns) / per_conversation),
            deadline=None,
            database=None,
            phases=[Phase.generate],  # never shrink: every failure is counted, not raised
            suppress_health_check=list(HealthCheck),
        )
        @given(plan)
        def conversation(drawn: tuple[Any, list[tuple[Any, Any, Any]]]) -> None:
            history, steps = drawn
            if tally.turns >= turns:
                return
            tally.conversations += 1
            for message, k, alpha in steps[: turns - tally.turns]:
                history = turn(chat, tally, fuzz, history, message, k, alpha)

        conversation()
        rounds += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10_000, help="chat turns in all")
    parser.add_argument("--per-conversation", type=int, default=5, help="turns per conversation")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.turns < 1 or args.per_conversation < 1:
        parser.error("--turns and --per-conversation must be at least 1")

    fuzz = load_strategies()
    errors = Counted()
    chat_log = logging.getLogger("convrec.dialogue")
    chat_log.addHandler(errors)
    chat_log.propagate = False  # counted, not printed: a malformed history is logged each time
    start = time.perf_counter()
    chat = Chat({"ml-100k": Recommender.build(load_dataset("ml-100k"))})
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    tally = run(chat, fuzz, args.turns, args.per_conversation, args.seed)
    seconds = time.perf_counter() - start
    ms = np.asarray(tally.latency) * 1000
    result = {
        "benchmark": "chat fuzz (Chat.respond, CF-only ml-100k)",
        "turns": tally.turns,
        "conversations": tally.conversations,
        "uncaught": tally.uncaught,
        "sorry": tally.sorry,
        "bad_replies": tally.bad_replies,
        "accepted_bad_k_or_alpha": tally.accepted_bad,
        "refused_k_or_alpha": tally.refused,
        "answered": len(tally.latency),
        "turn_ms": {
            name: round(float(np.percentile(ms, q)), 2)
            for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
        },
        "logged_errors": dict(errors.counts.most_common()),
        "examples": tally.examples,
        "seconds": round(seconds, 1),
        "build_s": round(build_s, 1),
        "params": {"per_conversation": args.per_conversation, "seed": args.seed},
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    text = json.dumps(result, indent=1, ensure_ascii=True)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    sys.exit(0)


if __name__ == "__main__":
    main()
