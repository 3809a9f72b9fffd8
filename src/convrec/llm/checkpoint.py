"""Atomic training checkpoints and adapter directories: temp dir, fsync, os.replace, pruning."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from convrec.storage import atomic_path

CONFIG_NAME = "convrec_config.json"
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
