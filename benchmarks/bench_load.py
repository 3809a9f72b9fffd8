"""Load on the chat server: S concurrent sessions x 5 turns through gradio_client, per round.

Starts ``python -m convrec.cli chat`` (ML-100k with its shipped adapter, unless --adapter) on a
free loopback port as a subprocess, then runs one round per value of --sessions (repeated
--repeat times): S sessions, each its own ``gradio_client.Client``, start together and send 5
turns one after another (a like, a genre filter, a why-question about an item of their list,
a rating question, "more please"). Per round it reports turns/s, client latency p50 / p95, the
server's own queue wait and turn time p50 / p95 (read from the server's per-turn debug log
line), errors (exceptions, "Sorry" and empty replies), busy replies, a cross-talk check
and the server's RSS (VmRSS of its /proc status) after the round; at the end the RSS after
--idle seconds of idling. --burst N then submits N one-turn requests at once, each from its own
client (a client sends its requests one at a time), and counts the answered, the "busy" replies
and the errors. Prints JSON (and --json writes it).

Cross-talk: each session likes two titles no other session likes; its first reply must name
both as what it likes and none of the other sessions' likes, every table must list the same
items as its reply, and a question turn must keep that session's own last table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convrec.dialogue.lines import listed_titles, unmd

# titles that the chat recognises in ML-100k and that are not substrings of one another
POOL = [
    "Star Wars", "Fargo", "Toy Story", "The Godfather", "Pulp Fiction", "Heat", "Casablanca",
    "The Shawshank Redemption", "Twelve Monkeys", "Jurassic Park", "Titanic", "Braveheart",
    "Contact", "Scream", "Air Force One", "Independence Day", "Return of the Jedi",
    "The English Patient", "Liar Liar", "Raiders of the Lost Ark", "Men in Black",
    "The Silence of the Lambs", "Schindler's List", "Forrest Gump", "Apollo 13",
    "Back to the Future", "Blade Runner", "Babe", "Speed", "Twister", "The Rock",
    "Dead Man Walking", "Mission: Impossible", "Sense and Sensibility", "Sabrina",
    "The Usual Suspects", "Groundhog Day", "Jaws", "Amadeus", "Vertigo", "Psycho",
    "Rear Window", "Chinatown", "Taxi Driver", "The Princess Bride", "Aladdin", "Batman",
    "The Lion King", "Ghost", "The Fugitive", "Clueless", "Annie Hall", "The Birdcage",
    "Trainspotting", "Jerry Maguire", "The Full Monty", "Good Will Hunting",
    "Gattaca", "Cinderella", "Dumbo", "The Sting", "Pinocchio", "Fantasia", "Sleepless in Seattle",
]  # fmt: skip
GENRES = ["only dramas", "no horror please", "only comedies", "something from the 90s"]
TURN_LINE = re.compile(r"chat turn: waited ([0-9.]+) s behind (\d+), answered in ([0-9.]+) s")
BUSY = "The recommender is busy"


@dataclass
class Session:
    """One simulated person: the titles they like and what they saw."""

    index: int
    liked: tuple[str, str]
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    busy: int = 0
    crosstalk: list[str] = field(default_factory=list)


def likes(index: int) -> tuple[str, str]:
    """Two titles of :data:`POOL` that no other session of up to len(POOL) / 2 shares."""
    return POOL[(2 * index) % len(POOL)], POOL[(2 * index + 1) % len(POOL)]


def rows(table: Any) -> list[list[Any]]:
    if isinstance(table, dict):
        return list(table.get("data") or [])
    return list(table or [])


def run_session(
    url: str, session: Session, turns: int, others: set[str], start: threading.Barrier
) -> None:
    """Drive one session; everything it notices goes into ``session``."""
    import gradio_client

    try:
        client = gradio_client.Client(url, verbose=False, analytics_enabled=False)
    except Exception as exc:  # reported, not raised: a round goes on
        session.errors.append(f"connect: {type(exc).__name__}: {str(exc)[:120]}")
        start.wait(timeout=600)
        return
    a, b = session.liked
    messages = [
        f"I loved {a} and {b}",
        GENRES[session.index % len(GENRES)],
        None,  # why <an item of the last list>?
        "how would I rate Heat?",
        "more please",
    ][:turns]
    last_table: list[list[Any]] | None = None
    try:
        start.wait(timeout=600)
        for turn, message in enumerate(messages):
            if message is None:
                message = f"why {last_table[0][1]}?" if last_table else "why Fargo?"
            begun = time.perf_counter()
            try:
                text, table, _plot, _domain = client.predict(message=message, api_name="/chat")
            except Exception as exc:
                session.errors.append(f"turn {turn}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            session.latencies.append(time.perf_counter() - begun)
            if text.startswith(BUSY):
                session.busy += 1
                continue
            if not text.strip() or text.startswith("Sorry"):
                session.errors.append(f"turn {turn}: {text[:120]!r}")
                continue
            table = rows(table)
            listed = listed_titles(text)  # the ranked lines' titles, unescaped
            if turn == 0:
                lead = unmd(text.split("\n", 1)[0])
                if not (a in lead and b in lead) or any(t in lead for t in others):
                    session.crosstalk.append(f"turn 0 lead {lead[:120]!r}")
            if listed:
                if [r[1] for r in table] != listed:
                    session.crosstalk.append(f"turn {turn}: table is not the reply's list")
                last_table = table
            elif last_table is not None and table != last_table:
                session.crosstalk.append(f"turn {turn}: a question did not keep the last table")
    finally:
        client.close()


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_s": None, "p95_s": None}
    return {
        "p50_s": round(float(np.percentile(values, 50)), 3),
        "p95_s": round(float(np.percentile(values, 95)), 3),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "convrec.cli", "chat", "--port", str(port)]
    command += ["--log-level", "DEBUG"]  # the per-turn timing line is a debug line
    if args.adapter is not None:
        command += ["--adapter", args.adapter]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    if args.concurrency is not None:
        env["GRADIO_DEFAULT_CONCURRENCY_LIMIT"] = str(args.concurrency)
    log = log_path.open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + args.startup_timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}): see {log_path}")
        try:
            with urllib.request.urlopen(url + "config", timeout=5) as response:
                if response.status == 200:
                    return server, url
        except OSError:
            time.sleep(1)
    server.kill()
    raise RuntimeError(f"the server did not answer within {args.startup_timeout} s")


def server_turns(log_path: Path, offset: int) -> tuple[list[tuple[float, int, float]], int]:
    """The per-turn log lines written since byte ``offset``, and the new offset."""
    with log_path.open("rb") as f:
        f.seek(offset)
        new = f.read()
    found = [
        (float(m.group(1)), int(m.group(2)), float(m.group(3)))
        for m in TURN_LINE.finditer(new.decode("utf-8", "replace"))
    ]
    return found, offset + len(new)


def run_round(url: str, n_sessions: int, turns: int) -> tuple[list[Session], float]:
    sessions = [Session(i, likes(i)) for i in range(n_sessions)]
    every_like = {t for s in sessions for t in s.liked}
    start = threading.Barrier(n_sessions + 1)
    threads = [
        threading.Thread(
            target=run_session, args=(url, s, turns, every_like - set(s.liked), start), daemon=True
        )
        for s in sessions
    ]
    for t in threads:
        t.start()
    start.wait(timeout=600)  # every client is connected: the clock starts now
    began = time.perf_counter()
    for t in threads:
        t.join()
    return sessions, time.perf_counter() - began


def run_burst(url: str, n: int, per_client: int = 1) -> dict[str, Any]:
    """``n`` one-turn requests submitted at once, ``per_client`` per client (each its own
    session): how many were answered, got the busy reply, or failed."""
    import gradio_client

    clients = [
        gradio_client.Client(
            url,
            max_workers=per_client,
            verbose=False,
            analytics_enabled=False,
            httpx_kwargs={"timeout": 120},  # 200 clients share this process and the cores
        )
        for _ in range(-(-n // per_client))
    ]
    try:
        began = time.perf_counter()
        jobs = [
            clients[i // per_client].submit(
                message=f"I loved {POOL[i % len(POOL)]}", api_name="/chat"
            )
            for i in range(n)
        ]
        answered = busy = 0
        errors: list[str] = []
        for job in jobs:
            try:
                text = job.result(timeout=1800)[0]
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                continue
            if text.startswith(BUSY):
                busy += 1
            elif text.strip() and not text.startswith("Sorry"):
                answered += 1
            else:
                errors.append(repr(text[:120]))
        return {
            "requests": n,
            "clients": len(clients),
            "answered": answered,
            "busy_replies": busy,
            "errors": len(errors),
            "error_samples": errors[:5],
            "wall_s": round(time.perf_counter() - began, 2),
        }
    finally:
        for client in clients:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 32], metavar="S")
    parser.add_argument("--turns", type=int, default=5, choices=range(1, 6), metavar="1-5")
    parser.add_argument("--repeat", type=int, default=1, help="run the --sessions list N times")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds idle before the last RSS")
    parser.add_argument("--adapter", default=None, help="'none' (CF only) or a directory")
    parser.add_argument("--concurrency", type=int, default=None, help="server worker threads")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--burst", type=int, default=0, help="then N requests at once (0: none)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if max(args.sessions) * 2 > len(POOL):
        parser.error(f"at most {len(POOL) // 2} sessions (each likes two titles of its own)")

    log_path = Path(tempfile.mkstemp(prefix="convrec-load-", suffix=".log")[1])
    started = time.perf_counter()
    server, url = start_server(args, log_path)
    result: dict[str, Any] = {
        "machine": {
            "cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "server": {
            "adapter": args.adapter or "shipped",
            "concurrency": args.concurrency,
            "startup_s": round(time.perf_counter() - started, 2),
            "rss_mb_ready": round(rss_mb(server.pid), 1),
        },
        "rounds": [],
    }
    offset = log_path.stat().st_size
    try:
        for n_sessions in args.sessions * args.repeat:
            sessions, wall = run_round(url, n_sessions, args.turns)
            turns, offset = server_turns(log_path, offset)
            latencies = [x for s in sessions for x in s.latencies]
            result["rounds"].append({
                "sessions": n_sessions,
                "turns": len(latencies),
                "wall_s": round(wall, 2),
                "turns_per_s": round(len(latencies) / wall, 3) if wall else None,
                "latency": pct(latencies),
                "queue_wait": pct([w for w, _, _ in turns]),
                "server_turn": pct([t for _, _, t in turns]),
                "max_waiting_ahead": max((a for _, a, _ in turns), default=0),
                "errors": sum(len(s.errors) for s in sessions),
                "error_samples": [e for s in sessions for e in s.errors][:5],
                "busy_replies": sum(s.busy for s in sessions),
                "crosstalk": sum(len(s.crosstalk) for s in sessions),
                "crosstalk_samples": [c for s in sessions for c in s.crosstalk][:5],
                "rss_mb_after": round(rss_mb(server.pid), 1),
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            })  # fmt: skip
            print(json.dumps(result["rounds"][-1]), file=sys.stderr, flush=True)
        if args.burst:
            result["burst"] = run_burst(url, args.burst)
            result["burst"]["rss_mb_after"] = round(rss_mb(server.pid), 1)
            print(json.dumps(result["burst"]), file=sys.stderr, flush=True)
        time.sleep(args.idle)
        result["server"]["rss_mb_idle"] = round(rss_mb(server.pid), 1)
        result["server"]["idle_s"] = args.idle
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_path.unlink(missing_ok=True)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
