"""Recommender directories: the parts save_pretrained writes and from_pretrained reads (JSON + npz
+ PEFT, never pickle)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convrec.data.errors import DataError
from convrec.data.store import load_saved_dataset, save_dataset
from convrec.recommender.config import cf_classes, rating_classes
from convrec.recommender.neighbours import item_neighbours, neighbours_for
from convrec.storage import csr_arrays, csr_from_arrays, load_npz, save_npz, write_json_atomic

MANIFEST = "convrec_recommender.json"
_FORMAT = "convrec.Recommender/1"
SHIPPED = ("ml-100k",)
"""Names ``Recommender.from_pretrained`` builds from data that ships with convrec's dependencies."""


def save_parts(directory: str | os.PathLike[str], parts: Mapping[str, Any]) -> Path:
    """Write a Recommender's fitted ``parts`` into ``directory``; returns it.

    ``parts`` holds the constructor arguments :func:`load_parts` returns (``data``, ``rows``,
    ``cf``, ``rating``, ``similarity``, ``session_cf``, ``cbf``, ``llm``) and ``config`` (a
    dict).

    Layout: ``convrec_recommender.json`` (config, parts), ``dataset/`` (ids, catalog,
    interactions), ``rows.npz``, ``cf.npz``, ``rating.npz``, ``similarity.npz``, and
    when present ``session_cf.npz``, ``cbf.npz`` and ``llm/`` (a PEFT adapter directory).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    save_dataset(parts["data"], folder / "dataset")
    save_npz(folder / "rows.npz", "rows", {}, {"rows": parts["rows"]})
    parts["cf"].save(folder / "cf.npz")
    parts["rating"].save(folder / "rating.npz")
    sim = parts["similarity"]
    save_npz(
        folder / "similarity.npz",
        "csr",
        {"shape": list(sim.shape)},
        csr_arrays(sim),
    )
    names = ["cf", "rating", "similarity"]
    if parts.get("session_cf") is not None:
        parts["session_cf"].save(folder / "session_cf.npz")
        names.append("session_cf")
    if parts.get("cbf") is not None:
        parts["cbf"].save(folder / "cbf.npz")
        names.append("cbf")
    if parts.get("llm") is not None:
        parts["llm"].save_pretrained(folder / "llm")
        names.append("llm")
    write_json_atomic(
        folder / MANIFEST, {"format": _FORMAT, "config": dict(parts["config"]), "parts": names}
    )
    return folder


def load_parts(directory: str | os.PathLike[str], llm: bool = True) -> dict[str, Any]:
    """What :func:`save_recommender` wrote, as the Recommender's constructor arguments.

    Returns ``{"data", "rows", "cf", "rating", "cbf", "llm", "config", "neighbours",
    "session_cf"}``, where
    ``config`` is the saved config's fields (a dict) and ``neighbours`` the item-kNN of the
    saved similarity matrix (the LLM's prompts read it too). ``llm=False`` leaves the LLM out.
    Raises :class:`~convrec.data.errors.DataError` naming the file that is not as written.
    """
    folder = Path(directory)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise DataError(
            f"not a saved recommender (no {MANIFEST}); shipped names: {', '.join(SHIPPED)}",
            path=folder,
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != _FORMAT:
        raise DataError(f"unknown format {manifest.get('format')!r}", path=manifest_path)
    data = load_saved_dataset(folder / "dataset")
    _, _, arrays = load_npz(folder / "rows.npz", "rows")
    rows = np.asarray(arrays["rows"], np.int64)
    _, params, csr = load_npz(folder / "similarity.npz", "csr")
    similarity = csr_from_arrays(csr, shape=tuple(params["shape"]))
    neighbours = item_neighbours(data, rows, similarity)
    cbf = llm_model = None
    if "cbf" in manifest["parts"]:
        from convrec.cbf import ContentModel

        cbf = ContentModel.load(folder / "cbf.npz")
    if llm and "llm" in manifest["parts"]:
        from convrec.llm.model import LLMModel

        llm_model = LLMModel.from_pretrained(folder / "llm")
        k = llm_model.config.prompts.n_neighbours
        llm_model.fit(data, rows, neighbours_for(neighbours, data, rows, k))
    cf_named, rating_named = cf_classes(), rating_classes()
    cf_kind, _, _ = load_npz(folder / "cf.npz")
    if cf_kind not in cf_named:
        raise DataError(f"unknown candidate model {cf_kind!r}", path=folder / "cf.npz")
    config = dict(manifest["config"])
    session_cf = None
    if "session_cf" in manifest["parts"]:
        kind, _, _ = load_npz(folder / "session_cf.npz")
        if kind not in cf_named:
            raise DataError(f"unknown candidate model {kind!r}", path=folder / "session_cf.npz")
        session_cf = cf_named[kind].load(folder / "session_cf.npz")
    else:  # written before sessions had their own model: they keep using ``cf``
        config["session_cf"] = None
    rating_kind, _, _ = load_npz(folder / "rating.npz")
    if rating_kind not in rating_named:
        raise DataError(f"unknown rating model {rating_kind!r}", path=folder / "rating.npz")
    return {
        "data": data,
        "rows": rows,
        "cf": cf_named[cf_kind].load(folder / "cf.npz"),
        "rating": rating_named[rating_kind].load(folder / "rating.npz"),
        "cbf": cbf,
        "llm": llm_model,
        "config": config,
        "neighbours": neighbours,
        "session_cf": session_cf,
    }
