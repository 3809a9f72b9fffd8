"""Times start-up: `convrec chat` answering, `Recommender.from_pretrained("ml-100k")` and a
`convrec recommend --user 42 -k 5 --explain` reply, each broken down by stage.

Each scenario runs in a fresh Python process (imports cold as far as the OS file cache allows).
Inside it the real entry point runs (``convrec.cli.main([...])`` for the two commands) with
timers wrapped around the functions each stage is made of; imports are timed by a hook on the
import system and attributed to the stage that triggered them. Stages are exclusive (a nested
stage's time is not counted again in its parent):

- ``imports``: every module loaded, whenever it was loaded;
- ``data``: ``load_dataset``; ``cf``: ``Recommender.build`` (CF and rating models, similarity,
  title index);
- ``adapter``: ``LLMModel.from_pretrained`` (backbone + LoRA weights), ``LLMModel.fit`` (the
  prompt builder's indexes) and the first scorer (the merged inference copy);
- ``scoring``: ranking and rating (CF, LLM re-scoring, fusion); ``explanations``: the LLM's
  explanation texts and their grounding;
- ``app`` (chat): building and launching the Gradio app; ``other``: the rest up to the result
  (interpreter start, argument parsing, printing; for chat the first turn's HTTP round trip
  and dialogue); ``exit``: from the result to the end of the process (``recommend``).

``total_s`` runs on one monotonic clock from the parent spawning the child: to the child's
exit for ``recommend`` (``done_s``: its reply printed), to the first ``/chat`` answer received
by ``gradio_client`` for ``chat`` (the app started by ``convrec chat`` on a free port, offline)
and to the return of ``from_pretrained`` (``exit_after_s``: the process exit that followed).
Prints JSON; ``--json PATH`` writes it too. The machine is recorded with its load average: on
a shared machine compare the stages of one run with each other, not absolute times across
machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCENARIOS = ("chat", "from_pretrained", "recommend")
STAGES = ("imports", "data", "cf", "adapter", "scoring", "explanations", "app", "other", "exit")
CHAT_MESSAGE = "I loved Star Wars and Fargo, give me 3"


# ---------------------------------------------------------------------------------- child side
class StageTimer:
    """Exclusive wall time per stage, imports counted apart (see the module docstring)."""

    def __init__(self, start: float, out: Path | None = None) -> None:
        self.start = start  # the parent's clock at spawning this process (one monotonic clock)
        self.done: float | None = None
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.stack: list[list[Any]] = []  # [stage, started, time taken by nested stages]
        self.out = out

    def run(self, stage: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.stack.append([stage, time.perf_counter(), 0.0])
        try:
            return fn(*args, **kwargs)
        finally:
            _, started, nested = self.stack.pop()
            elapsed = time.perf_counter() - started
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed - nested
            self.calls[stage] = self.calls.get(stage, 0) + 1
            if self.stack:
                self.stack[-1][2] += elapsed
            if stage != "imports" and not self.stack:
                self.dump()

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        """Time ``owner.name`` (a function, method or classmethod) as ``stage``."""
        raw = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name)
        if raw is None:
            raise AttributeError(f"{owner!r} has no {name!r}: update bench_startup.py")
        is_classmethod = isinstance(raw, classmethod)
        fn = raw.__func__ if is_classmethod else raw

        def timed(*args: Any, **kwargs: Any) -> Any:
            return self.run(stage, fn, *args, **kwargs)

        setattr(owner, name, classmethod(timed) if is_classmethod else timed)

    def hook_imports(self, patches: dict[str, Any]) -> None:
        """Count the loading of modules (a module's first import, at any depth, whenever it
        happens) as imports, and call ``patches[name](module)`` once module ``name`` loaded."""
        import importlib._bootstrap as bootstrap

        original = bootstrap._find_and_load  # type: ignore[attr-defined]
        depth = [0]

        def find_and_load(name: str, import_: Any) -> Any:
            depth[0] += 1
            try:
                if depth[0] == 1:
                    module = self.run("imports", original, name, import_)
                else:
                    module = original(name, import_)
            finally:
                depth[0] -= 1
            if name in patches:
                patches.pop(name)(module)
            return module

        bootstrap._find_and_load = find_and_load  # type: ignore[attr-defined]

    def report(self) -> dict[str, Any]:
        stages = {s: round(self.seconds.get(s, 0.0), 3) for s in STAGES[:-2]}
        done = None if self.done is None else self.done - self.start
        return {"stages_s": stages, "calls": dict(sorted(self.calls.items())), "done_s": done}

    def finish(self) -> None:
        """The scenario's result is there (printed, returned): the clock stops."""
        self.done = time.perf_counter()
        self.dump()

    def dump(self) -> None:
        if self.out is not None:
            tmp = self.out.with_name(self.out.name + ".tmp")
            tmp.write_text(json.dumps(self.report()))
            os.replace(tmp, self.out)


def patches(timer: StageTimer) -> dict[str, Any]:
    """What to wrap in each module when it loads (wrapping it earlier would import it before
    the command does, out of the command's own start-up order)."""

    def data(module: Any) -> None:  # before convrec.data imports the name from it
        timer.wrap(module, "load_dataset", "data")

    def core(module: Any) -> None:
        timer.wrap(module.Recommender, "build", "cf")
        timer.wrap(module.Recommender, "predict_ratings", "scoring")

    def candidates(module: Any) -> None:
        timer.wrap(module.CandidateRanker, "rank", "scoring")

    def explain(module: Any) -> None:
        timer.wrap(module.Explainer, "explain_many", "explanations")

    def model(module: Any) -> None:
        timer.wrap(module.LLMModel, "from_pretrained", "adapter")
        timer.wrap(module.LLMModel, "fit", "adapter")
        timer.wrap(module, "inference_copy", "adapter")  # the merged copy made on first use

    def blocks(module: Any) -> None:  # before convrec.ui and convrec.ui.serve import it
        timer.wrap(module, "build_app", "app")

    def gradio_blocks(module: Any) -> None:
        launch = module.Blocks.launch

        def launched(self: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["prevent_thread_lock"] = True  # the command returns; the child then waits
            return timer.run("app", launch, self, *args, **kwargs)

        module.Blocks.launch = launched

    return {
        "convrec.data.registry": data,
        "convrec.recommender.core": core,
        "convrec.recommender.candidates": candidates,
        "convrec.recommender.explain": explain,
        "convrec.llm.model": model,
        "convrec.ui.blocks": blocks,
        "gradio.blocks": gradio_blocks,
    }


def child(scenario: str, start: float, out: Path, argv: list[str]) -> None:
    timer = StageTimer(start, out)
    todo = patches(timer)
    timer.hook_imports(todo)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import convrec

    if scenario == "from_pretrained":
        rec = convrec.Recommender.from_pretrained("ml-100k")
        timer.finish()
        assert rec.llm is not None, "the shipped ml-100k adapter did not load"
        return
    from convrec.cli import main

    if scenario == "chat":
        status = main(argv)
        timer.finish()  # the app is up; the parent times the first answer
        if status != 0:
            raise SystemExit(status)
        while True:  # the app serves from its own threads until the parent stops this process
            time.sleep(3600)
    status = main(argv)
    sys.stdout.flush()
    timer.finish()
    unused = sorted(set(todo) - {"convrec.ui.blocks", "gradio.blocks"})
    if unused:
        raise RuntimeError(f"never loaded, not timed: {unused} (update bench_startup.py)")
    raise SystemExit(status)


# --------------------------------------------------------------------------------- parent side
def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1_5_15": None if load is None else [round(x, 2) for x in load],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        OMP_WAIT_POLICY="PASSIVE",
        PYTHONWARNINGS="ignore",
    )
    return env


def spawn(scenario: str, out: Path, argv: list[str], log: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--child", scenario, "--stages", str(out),
               "--start", repr(time.perf_counter()), "--", *argv]  # fmt: skip
    return subprocess.Popen(command, env=environment(), stdout=log, stderr=subprocess.STDOUT)


def run_command(scenario: str, argv: list[str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out, log_path = Path(tmp) / "stages.json", Path(tmp) / "log.txt"
        with open(log_path, "wb") as log:
            start = time.perf_counter()
            proc = spawn(scenario, out, argv, log)
            status = proc.wait(timeout)
            ended = time.perf_counter() - start
        output = log_path.read_text(errors="replace")
        if status != 0:
            raise RuntimeError(f"{scenario} exited with {status}:\n{output[-2000:]}")
        child = json.loads(out.read_text())
        if scenario == "from_pretrained":  # the call returned: its process exit is not counted
            after = round(ended - child["done_s"], 3)
            return with_other(child["done_s"], child, exit_after_s=after, output=output)
        return with_other(ended, child, output=output)


def run_chat(data: str, timeout: float) -> dict[str, Any]:
    from gradio_client import Client  # imported before the clock starts

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    argv = ["chat", "--data", data, "--port", str(port)]
    with tempfile.TemporaryDirectory() as tmp:
        out, log_path = Path(tmp) / "stages.json", Path(tmp) / "log.txt"
        with open(log_path, "wb") as log:
            start = time.perf_counter()
            proc = spawn("chat", out, argv, log)
            try:
                client, up = None, None
                while client is None:
                    if proc.poll() is not None:
                        raise RuntimeError(f"convrec chat exited: {log_path.read_text()[-2000:]}")
                    if time.perf_counter() - start > timeout:
                        raise TimeoutError(f"convrec chat not up after {timeout} s")
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                            pass
                        client = Client(url, verbose=False)
                        up = time.perf_counter() - start
                    except (OSError, ValueError):
                        time.sleep(0.1)
                reply = client.predict(message=CHAT_MESSAGE, api_name="/chat")
                total = time.perf_counter() - start
                stages = json.loads(out.read_text())
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    text = reply[0] if isinstance(reply, (list, tuple)) else reply
    stages["done_s"] = None  # the answer came back at ``total``; the app keeps running
    return with_other(total, stages, server_up_s=round(up or 0.0, 3), output=str(text))


def with_other(total: float, child: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The child's report with ``total_s``, ``exit`` (from the result to the end of the
    process, when ``total`` includes it) and ``other``: what the stages leave of the time to
    the result (interpreter start, argument parsing, printing; for chat the HTTP round trip)."""
    stages = dict(child["stages_s"])
    done = min(total, child["done_s"] if child["done_s"] is not None else total)
    stages["other"] = round(done - sum(stages.values()), 3)
    stages["exit"] = round(total - done, 3)
    return {"total_s": round(total, 3), **child, "done_s": round(done, 3), "stages_s": stages,
            **extra}  # fmt: skip


def summarise(runs: list[dict[str, Any]], keep_output: bool) -> dict[str, Any]:
    """The median run by total time, with every run's total."""
    ordered = sorted(runs, key=lambda r: r["total_s"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    if not keep_output:
        median.pop("output", None)
    median["totals_s"] = [r["total_s"] for r in runs]
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--repeats", type=int, default=1, help="runs per scenario (median kept)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--data", default="ml-100k")
    parser.add_argument("--user", default="42")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--show-output", action="store_true", help="keep each reply's text")
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--stages", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, help=argparse.SUPPRESS)
    parser.add_argument("argv", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.start, args.stages, args.argv)
        return

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    result: dict[str, Any] = {"machine": machine(), "scenarios": {}}
    recommend = ["recommend", "--data", args.data, "--user", args.user, "-k", str(args.k)]
    commands = {
        "from_pretrained": lambda: run_command("from_pretrained", [], args.timeout),
        "recommend": lambda: run_command("recommend", [*recommend, "--explain"], args.timeout),
        "chat": lambda: run_chat(args.data, args.timeout),
    }
    for name in scenarios:
        runs = []
        for _ in range(args.repeats):
            runs.append(commands[name]())
            print(f"{name}: {runs[-1]['total_s']:.1f} s", file=sys.stderr, flush=True)
        result["scenarios"][name] = summarise(runs, args.show_output)
    result["scenarios"].get("recommend", {})["command"] = " ".join(
        ["convrec", *recommend, "--explain"]
    )
    result["scenarios"].get("chat", {})["message"] = CHAT_MESSAGE
    result["machine"]["load_average_after"] = machine()["load_average_1_5_15"]
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
