"""Recommender directories: save_pretrained / from_pretrained (JSON + npz + PEFT, never pickle)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from convrec._io import write_json_atomic
from convrec.cf._persist import load_npz, save_npz
from convrec.data.errors import DataError
from convrec.data.registry import load_dataset
from convrec.data.store import load_saved_dataset, save_dataset

if TYPE_CHECKING:
    from convrec.recommender import Recommender

MANIFEST = "convrec_recommender.json"
_FORMAT = "convrec.Recommender/1"
SHIPPED = ("ml-100k",)
"""Names :func:`from_pretrained` builds from data that ships with convrec's dependencies."""


def save_recommender(rec: Recommender, directory: str | os.PathLike[str]) -> Path:
    """Write every fitted part of ``rec`` into ``directory``; returns it.

    Layout: ``convrec_recommender.json`` (config, parts), ``dataset/`` (ids, catalog,
    interactions), ``rows.npz``, ``cf.npz``, ``rating.npz``, ``similarity.npz``, and
    when present ``cbf.npz`` and ``llm/`` (a PEFT adapter directory).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    save_dataset(rec.data, folder / "dataset")
    save_npz(folder / "rows.npz", "rows", {}, {"rows": rec.rows})
    rec.cf.save(folder / "cf.npz")
    rec.rating.save(folder / "rating.npz")
    sim = rec.similarity
    save_npz(
        folder / "similarity.npz",
        "csr",
        {"shape": list(sim.shape)},
        {"indptr": sim.indptr, "indices": sim.indices, "data": sim.data},
    )
    parts = ["cf", "rating", "similarity"]
    if rec.cbf is not None:
        rec.cbf.save(folder / "cbf.npz")
        parts.append("cbf")
    if rec.llm is not None:
        rec.llm.save_pretrained(folder / "llm")
        parts.append("llm")
    write_json_atomic(
        folder / MANIFEST,
        {"format": _FORMAT, "config": dataclasses.asdict(rec.config), "parts": parts},
    )
    return folder


def load_recommender(
    name_or_dir: str | os.PathLike[str], llm: bool = True, **overrides: Any
) -> Recommender:
    """A :class:`~convrec.recommender.Recommender` from a shipped name or a saved directory.

    A shipped name (``"ml-100k"``) builds the CF side from the dataset that comes with
    convrec's dependencies (about a second) and, when ``llm``, adds the LLM of the adapter
    shipped for it with its validated fusion (:func:`convrec.domains.with_adapter`; a few
    seconds more). A directory must hold what :func:`save_recommender` wrote; ``llm=False``
    leaves its LLM out. ``overrides`` replace fields of the config.
    """
    from convrec.domains import with_adapter
    from convrec.llm.shipped import shipped_adapter
    from convrec.recommender import Recommender, RecommenderConfig
    from convrec.recommender.core import CF_CLASSES, RATING_CLASSES

    folder = Path(name_or_dir)
    if str(name_or_dir) in SHIPPED and not folder.exists():
        name = str(name_or_dir)
        rec = Recommender.build(load_dataset(name), config=RecommenderConfig(**overrides))
        adapter = shipped_adapter(name) if llm else None
        if adapter is None:
            return rec
        rec = with_adapter(rec, adapter)
        # the caller's settings win over the adapter's fusion
        rec.config = dataclasses.replace(rec.config, **overrides)
        return rec
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise DataError(
            f"not a saved recommender (no {MANIFEST}); shipped names: {', '.join(SHIPPED)}",
            path=folder,
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != _FORMAT:
        raise DataError(f"unknown format {manifest.get('format')!r}", path=manifest_path)
    config = RecommenderConfig(**{**manifest["config"], **overrides})
    data = load_saved_dataset(folder / "dataset")
    _, _, arrays = load_npz(folder / "rows.npz", "rows")
    _, params, csr = load_npz(folder / "similarity.npz", "csr")
    similarity = sp.csr_matrix(
        (csr["data"], csr["indices"], csr["indptr"]), shape=tuple(params["shape"])
    )
    cbf = llm_model = None
    if "cbf" in manifest["parts"]:
        from convrec.cbf import ContentModel

        cbf = ContentModel.load(folder / "cbf.npz")
    if llm and "llm" in manifest["parts"]:
        from convrec.llm.model import LLMModel

        llm_model = LLMModel.from_pretrained(folder / "llm")
        llm_model.fit(data, np.asarray(arrays["rows"], np.int64))
    cf_kind, _, _ = load_npz(folder / "cf.npz")
    if cf_kind not in CF_CLASSES:
        raise DataError(f"unknown candidate model {cf_kind!r}", path=folder / "cf.npz")
    rating_kind, _, _ = load_npz(folder / "rating.npz")
    if rating_kind not in RATING_CLASSES:
        raise DataError(f"unknown rating model {rating_kind!r}", path=folder / "rating.npz")
    return Recommender(
        data,
        np.asarray(arrays["rows"], np.int64),
        CF_CLASSES[cf_kind].load(folder / "cf.npz"),
        RATING_CLASSES[rating_kind].load(folder / "rating.npz"),
        cbf=cbf,
        llm=llm_model,
        config=config,
        similarity=similarity,
    )
