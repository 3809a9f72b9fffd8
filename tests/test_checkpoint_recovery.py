"""Resume past a corrupt latest checkpoint; the trained adapter lands in its directory whole."""

import hashlib
import logging
import os
import shutil

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")

from convrec import storage  # noqa: E402
from convrec.llm import checkpoint as ckpt  # noqa: E402
from convrec.llm.backbone import BackboneConfig  # noqa: E402
from convrec.training.train import TrainConfig, train  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

SMALL = {"batch_size": 4, "lr": 3e-3, "warmup_steps": 1, "max_source_length": 96}
CONFIG = TrainConfig(max_steps=6, eval_every=0, save_every=2, **SMALL)


class Killed(Exception):
    pass


def _kill_after(step_to_die):
    def hook(step, loss):
        if step == step_to_die:
            raise Killed

    return hook


@pytest.fixture(scope="module")
def tiny(tiny_t5_dir):
    return BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4)


@pytest.fixture(scope="module")
def runs(llm_data, tiny, tmp_path_factory):
    """An uninterrupted 6-step run, and one killed after step 5 (checkpoints at 2 and 4)."""
    root = tmp_path_factory.mktemp("runs")
    full = train(llm_data, root / "full", CONFIG, tiny, quiet=True)
    with pytest.raises(Killed):
        train(llm_data, root / "cut", CONFIG, tiny, quiet=True, hook=_kill_after(5))
    assert [s for s, _ in ckpt.list_checkpoints(root / "cut" / "checkpoints")] == [2, 4]
    return full, root / "cut"


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPTIONS = {
    "truncated weights": lambda d: _truncate(d / ckpt.WEIGHTS_NAME),
    "garbage optimizer": lambda d: (d / ckpt.OPTIMIZER_NAME).write_bytes(os.urandom(4096)),
    "missing rng state": lambda d: (d / "rng-0.safetensors").unlink(),
    "truncated trainer state": lambda d: _truncate(d / ckpt.STATE_NAME),
    "missing trainer state": lambda d: (d / ckpt.STATE_NAME).unlink(),
    "empty extra": lambda d: (d / "extra.safetensors").write_bytes(b""),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_latest_checkpoint_resumes_from_the_newest_intact_one(
    runs, llm_data, tiny, tmp_path, caplog, corrupt
):
    full, cut = runs
    out = tmp_path / "cut"
    shutil.copytree(cut, out)
    latest = out / "checkpoints" / ckpt.checkpoint_name(4)
    corrupt(latest)
    with caplog.at_level(logging.WARNING, logger="convrec"):
        resumed = train(llm_data, out, CONFIG, tiny, resume=True, quiet=True)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and str(latest) in warned[0] and "corrupt" in warned[0], warned
    # resumed from step 2, the run ends exactly as the uninterrupted one
    assert resumed.step == 6
    assert resumed.history == full.history


def test_no_intact_checkpoint_is_a_one_line_error(runs, llm_data, tiny, tmp_path):
    out = tmp_path / "cut"
    shutil.copytree(runs[1], out)
    for step in (2, 4):
        _truncate(out / "checkpoints" / ckpt.checkpoint_name(step) / ckpt.WEIGHTS_NAME)
    with pytest.raises(ValueError, match="no intact checkpoint") as info:
        train(llm_data, out, CONFIG, tiny, resume=True, quiet=True)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    assert ckpt.checkpoint_name(2) in message and ckpt.checkpoint_name(4) in message


def _top_files(folder):
    """Name -> sha256 of every file directly in ``folder`` (the adapter, not its checkpoints)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_the_final_adapter_appears_in_one_rename(runs, llm_data, tiny, tmp_path, monkeypatch):
    """Continuing a finished run: its output directory holds the old adapter files until one
    atomic swap shows all the new ones; no rename in between changes what a reader sees."""
    out = tmp_path / "run"
    short = TrainConfig(max_steps=2, eval_every=0, save_every=2, **SMALL)
    train(llm_data, out, short, tiny, quiet=True)
    old = _top_files(out)
    assert {"adapter_model.safetensors", "adapter_config.json", "train_log.json"} <= set(old)

    seen = []  # (how, files before, files after) of every rename while training goes on
    exchange, replace = storage.exchange, os.replace

    def spy(how, call):
        def wrapped(a, b, *rest):
            before = _top_files(out) if out.is_dir() else None
            result = call(a, b, *rest)
            seen.append((how, before, _top_files(out) if out.is_dir() else None))
            return result

        return wrapped

    monkeypatch.setattr(storage, "exchange", spy("exchange", exchange))
    monkeypatch.setattr(os, "replace", spy("replace", replace))
    longer = TrainConfig(max_steps=4, eval_every=0, save_every=2, **SMALL)
    train(llm_data, out, longer, tiny, resume=True, quiet=True)
    monkeypatch.undo()

    changes = [(how, before, after) for how, before, after in seen if before != after]
    assert len(changes) == 1, [how for how, _, _ in changes]
    how, before, after = changes[0]
    assert how == "exchange" and before == old and after == _top_files(out)
    assert after["adapter_model.safetensors"] != old["adapter_model.safetensors"]
    assert [s for s, _ in ckpt.list_checkpoints(out / "checkpoints")] == [2, 4]
    ckpt.read_checkpoint(out / "checkpoints" / ckpt.checkpoint_name(4))  # still whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_kill_while_writing_the_final_adapter_leaves_the_old_one(
    llm_data, tiny, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    short = TrainConfig(max_steps=2, eval_every=0, save_every=2, **SMALL)
    train(llm_data, out, short, tiny, quiet=True)
    old = _top_files(out)
    write_json = ckpt.write_json

    def dies_on_the_log(path, payload):
        if path.name == "train_log.json":  # the adapter files are written by then
            raise Killed
        write_json(path, payload)

    monkeypatch.setattr(ckpt, "write_json", dies_on_the_log)
    longer = TrainConfig(max_steps=4, eval_every=0, save_every=2, **SMALL)
    with pytest.raises(Killed):
        train(llm_data, out, longer, tiny, resume=True, quiet=True)
    assert _top_files(out) == old
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_atomic_path_without_an_atomic_swap_still_replaces_a_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "exchange", lambda a, b: False)  # e.g. macOS
    final = tmp_path / "d"
    for text in ("old", "new"):
        with storage.atomic_path(final) as tmp:
            tmp.mkdir()
            (tmp / "f").write_text(text)
    assert (final / "f").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["d"]
