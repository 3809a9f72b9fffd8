"""Atomic training checkpoints and adapter directories: temp dir, fsync, one rename, pruning;
reading a checkpoint back whole (a corrupt one is named, not half applied)."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from convrec.storage import atomic_path

CONFIG_NAME = "convrec_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.safetensors"
_PREFIX = "step-"


def write_json(path: Path, payload: Any) -> None:
    """Sorted, indented JSON (inside a directory that is itself written atomically)."""
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def atomic_dir(final: Path, fill: Callable[[Path], None]) -> Path:
    """Build a directory with ``fill(tmp)`` and move it into place whole
    (:func:`convrec.storage.atomic_path`, fsynced): a reader sees no ``final`` directory, the
    old one or the complete new one; a crash inside ``fill`` leaves only a hidden ``.tmp-*``
    directory, ignored and removed later."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(final, fsync=True) as tmp:
        tmp.mkdir()
        fill(tmp)
    return final


def publish_dir(final: Path, fill: Callable[[Path], None]) -> Path:
    """Write new files into the existing directory ``final`` as one change.

    The new version of ``final`` is built beside it: ``fill(tmp)`` writes the new files, then
    every other entry of ``final`` is hard-linked in (copied where links fail); one atomic
    swap puts it in place (:func:`convrec.storage.atomic_path`). A reader, or a kill at any
    moment, finds the old files or all the new ones, never a mix.
    """
    final = Path(final)
    for stale in final.parent.glob(f".tmp-{final.name}-*"):  # left by a killed run
        if stale.name != f".tmp-{final.name}-{os.getpid()}":
            shutil.rmtree(stale, ignore_errors=True)
    with atomic_path(final, fsync=True) as tmp:
        tmp.mkdir()
        fill(tmp)
        new = {p.name for p in tmp.iterdir()}
        shutil.copytree(
            final,
            tmp,
            symlinks=True,
            ignore=lambda folder, names: new if Path(folder) == final else set(),
            copy_function=_link_or_copy,
            dirs_exist_ok=True,
        )
    return final


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class CorruptCheckpointError(ValueError):
    """A checkpoint directory that cannot be read back whole; the message says which file."""


@dataclass(frozen=True)
class SavedCheckpoint:
    """Everything a resume needs from one checkpoint, read and checked before any is applied.

    Attributes
    ----------
    path : pathlib.Path
        The ``step-*`` directory.
    state : dict
        ``trainer_state.json``.
    config : dict or None
        ``convrec_config.json`` when present.
    weights, optimizer, extra, rng : dict[str, torch.Tensor]
        The adapter weights, optimizer tensors, ``log_vars`` and this process's RNG state.
    """

    path: Path
    state: dict[str, Any]
    config: dict[str, Any] | None
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    extra: dict[str, torch.Tensor]
    rng: dict[str, torch.Tensor]


_STATE_KEYS = ("step", "consumed", "optimizer", "scheduler", "history", "valid", "best")


def read_checkpoint(path: Path, rank: int = 0) -> SavedCheckpoint:
    """Read every file of the checkpoint ``path`` for process ``rank``.

    Raises
    ------
    CorruptCheckpointError
        A file is missing, truncated or not what it should be (named in the message).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    def read(name: str) -> Any:
        file = path / name
        try:
            if name.endswith(".json"):
                return json.loads(file.read_text(encoding="utf-8"))
            return load_file(str(file))
        except FileNotFoundError:
            raise CorruptCheckpointError(f"{name} is missing") from None
        except (OSError, ValueError, SafetensorError) as err:
            reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise CorruptCheckpointError(f"{name} is unreadable: {reason}") from None

    state = read(STATE_NAME)
    missing = [k for k in _STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CorruptCheckpointError(f"{STATE_NAME} lacks {', '.join(missing)}")
    step = state["step"]
    if not isinstance(step, int) or path.name != checkpoint_name(step):
        raise CorruptCheckpointError(f"{STATE_NAME} says step {state['step']}")
    config = read(CONFIG_NAME) if (path / CONFIG_NAME).exists() else None
    # every process's RNG state is checked, so that all processes agree on the checkpoint
    rng = {f.name: read(f.name) for f in sorted(path.glob("rng-*.safetensors"))}
    mine = f"rng-{rank}.safetensors"
    if mine not in rng:
        raise CorruptCheckpointError(f"{mine} is missing")
    return SavedCheckpoint(
        path,
        state,
        config,
        read(WEIGHTS_NAME),
        read(OPTIMIZER_NAME),
        read("extra.safetensors"),
        rng[mine],
    )


def save_adapter_files(peft_model: Any, directory: Path, config: Mapping[str, Any]) -> None:
    """``adapter_config.json`` + ``adapter_model.safetensors`` + ``convrec_config.json``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        peft_model.save_pretrained(str(directory), safe_serialization=True)
    write_json(directory / CONFIG_NAME, dict(config))


def optimizer_tensors(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into safetensors tensors and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state(tensors: Mapping[str, torch.Tensor], rest: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, entry in rest.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    groups = [dict(g) for g in rest["param_groups"]]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def checkpoint_name(step: int) -> str:
    return f"{_PREFIX}{step:08d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as (step, path), oldest first (temp dirs skipped)."""
    out = []
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and p.name.startswith(_PREFIX) and (p / STATE_NAME).is_file():
                try:
                    out.append((int(p.name[len(_PREFIX) :]), p))
                except ValueError:
                    continue
    return sorted(out)


def checkpoint_dirs(root: Path) -> list[tuple[int, Path]]:
    """Every ``step-*`` directory under ``root`` as (step, path), oldest first, whether or not
    it is complete (:func:`list_checkpoints` lists only those with a trainer state)."""
    out = []
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and p.name.startswith(_PREFIX) and p.name[len(_PREFIX) :].isdigit():
                out.append((int(p.name[len(_PREFIX) :]), p))
    return sorted(out)


def prune_checkpoints(root: Path, keep_last: int, keep: set[int]) -> None:
    """Delete all but the newest ``keep_last`` checkpoints and those whose step is in ``keep``;
    also removes temp directories left by interrupted writes."""
    found = list_checkpoints(root)
    newest = {s for s, _ in found[-keep_last:]} if keep_last > 0 else set()
    for step, path in found:
        if step not in newest and step not in keep:
            shutil.rmtree(path, ignore_errors=True)
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith((".tmp-", ".old-")) and not p.name.endswith(f"-{os.getpid()}"):
                shutil.rmtree(p, ignore_errors=True)
