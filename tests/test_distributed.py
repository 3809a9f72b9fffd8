"""Training under `accelerate launch` on two CPU processes (gloo): checkpoint, resume, adapter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import convrec

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from convrec.cli import main  # noqa: E402
from convrec.llm import checkpoint as ckpt  # noqa: E402
from convrec.llm.model import LLMModel  # noqa: E402

DRIVER = """\
import sys

from convrec.cli import main

argv = sys.argv[1:]
assert main([*argv, "--max-steps", "2"]) == 0
assert main([*argv, "--max-steps", "4", "--resume"]) == 0
"""
"""Runs under the launcher: the `convrec train` command line for 2 steps, then resumed to 4."""


def _env(tmp_path: Path) -> dict[str, str]:
    """CPU only, this convrec first on the path, no accelerate config of the user's."""
    src = str(Path(convrec.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(
        ACCELERATE_USE_CPU="true", CUDA_VISIBLE_DEVICES="", HF_HOME=str(tmp_path / "hf"),
        HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE",
    )  # fmt: skip
    return env


def test_two_processes_train_checkpoint_resume_and_write_one_adapter(
    ratings_csv, tiny_t5_dir, tmp_path, free_port, capsys
):
    out = tmp_path / "adapter"
    argv = ["train", "--data", str(ratings_csv), "--columns", "user=u,item=i,rating=r,timestamp=t",
            "--out", str(out), "--backbone", str(tiny_t5_dir), "--lora-r", "4",
            "--batch-size", "4", "--max-source-length", "128", "--eval-every", "2",
            "--save-every", "2", "--valid-ratings", "8", "--valid-users", "3",
            "--valid-explanations", "2", "--threads", "1"]  # fmt: skip
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--main_process_port", str(free_port)]  # fmt: skip
    done = subprocess.run(
        [*launch, str(driver), *argv], env=_env(tmp_path), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    # one report per run and one resume notice, from the main process only
    assert done.stdout.count("trained 2 steps") == 1 and done.stdout.count("trained 4 steps") == 1
    assert done.stderr.count("resumed from") == 1 and "at step 2" in done.stderr

    found = ckpt.list_checkpoints(out / "checkpoints")
    assert [s for s, _ in found] == [2, 4]
    for _, path in found:
        state = json.loads((path / ckpt.STATE_NAME).read_text())
        assert state["num_processes"] == 2
        assert {"rng-0.safetensors", "rng-1.safetensors"} <= set(os.listdir(path))
    # each step drew one global batch of 2 x 4 rows, split between the processes
    assert sum(state["consumed"].values()) == 4 * 4 * 2
    log = json.loads((out / "train_log.json").read_text())
    assert [h["step"] for h in log["history"]] == [1, 2, 3, 4]
    assert log["history"][:2] == state["history"][:2]  # the resumed run kept steps 1-2
    assert [v["step"] for v in log["valid"]] == [2, 4]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    model = LLMModel.from_pretrained(out)  # the final adapter loads on one process
    assert json.loads((out / "convrec_config.json").read_text())["train"]["max_steps"] == 4
    assert model.config.n_candidates > 0

    # a single process cannot resume it: its data order would differ
    capsys.readouterr()
    assert main([*argv, "--max-steps", "6", "--resume", "--quiet"]) == 2
    assert "written by 2 processes" in capsys.readouterr().err
