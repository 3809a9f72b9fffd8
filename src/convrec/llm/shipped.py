"""Adapters shipped inside the package, and :func:`export_adapter`, which makes them.

A shipped adapter is an ordinary PEFT adapter directory (``adapter_config.json``,
``adapter_model.safetensors``, ``convrec_config.json``) under ``convrec/adapters/NAME``,
its weights stored in float16 to keep the package small (they load into the float32
backbone unchanged by :func:`peft.PeftModel.from_pretrained`). Its ``convrec_config.json``
may carry a ``"recommender"`` entry: the fusion chosen on validation for that domain
(:class:`ShippedFusion`).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convrec.llm.scoring_types import INFERENCE_MODES

if TYPE_CHECKING:
    from convrec.llm.scoring import Decoding

ADAPTERS_DIR = Path(__file__).resolve().parents[1] / "adapters"
"""Where the shipped adapters live (``convrec/adapters``)."""

_WEIGHTS = "adapter_model.safetensors"
_FILES = ("adapter_config.json", _WEIGHTS)
_CONFIG = "convrec_config.json"
MODEL_CARD = "README.md"
"""The model card of an adapter directory (base model, data, commands, metrics, limits)."""
_DTYPES = ("float16", "bfloat16", "float32")
SESSION_CF_KEYS = ("k", "tau", "popularity", "activity")
"""The session candidate model's parameters an adapter may carry (:class:`ShippedFusion`)."""
EXPLAINER = "explainer"
"""The subdirectory :func:`export_adapter` writes an explainer adapter into."""


@dataclass(frozen=True)
class ShippedFusion:
    """How a shipped adapter's LLM joins the CF engine (chosen on validation).

    alpha : float
        CF weight of the ranking fusion, in [0, 1] (``alpha * CF + (1 - alpha) * LLM``).
    fusion : str
        ``"zscore"``, ``"minmax"`` or ``"rrf"``.
    rating_alpha : float
        CF weight of the predicted-rating blend, in [0, 1].
    llm_candidates : int
        How many of the CF engine's best candidates the LLM re-scores (>= 0; 0: all).
    llm_explanations : bool
        Whether the adapter writes the explanations (each checked fact by fact, the rendered
        facts shown when it fails) or the rendered facts are shown directly: ``False`` for an
        adapter whose texts rarely pass the check, which would only cost a generation per list.
    session_alpha : float or None
        CF weight of the ranking fusion for sessions (liked titles, no user id), chosen on
        protocol S's valid sessions; ``None``: ``alpha``
        (:attr:`~convrec.recommender.RecommenderConfig.session_alpha`).
    session_cf : dict or None
        Parameters of the sessions' candidate model chosen on the domain's own protocol S
        valid sessions (``k``, ``tau``, ``popularity``, ``activity`` of
        :class:`~convrec.cf.sequential.RecencyItemKNN`), over the default
        :data:`~convrec.recommender.config.SESSION_CF`; ``None``: that default.
    session_fusion : str or None
        The fusion of sessions chosen with ``session_alpha`` (``"zscore"``, ``"minmax"``,
        ``"rrf"``); ``None``: ``fusion``
        (:attr:`~convrec.recommender.RecommenderConfig.session_fusion`).
    """

    alpha: float = 0.5
    fusion: str = "zscore"
    rating_alpha: float = 0.5
    llm_candidates: int = 20
    llm_explanations: bool = True
    session_alpha: float | None = None
    session_cf: dict[str, Any] | None = None
    session_fusion: str | None = None

    def __post_init__(self) -> None:
        for key, value in (self.session_cf or {}).items():
            if key not in SESSION_CF_KEYS:
                raise ValueError(
                    f"session_cf: unknown parameter {key!r}; one of {', '.join(SESSION_CF_KEYS)}"
                )
            if value is not None and (isinstance(value, bool) or not isinstance(value, Real)):
                raise ValueError(f"session_cf: {key} must be a number, got {value!r:.40}")
        for name in ("alpha", "rating_alpha", "session_alpha"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name in ("fusion", "session_fusion"):
            value = getattr(self, name)
            if value is not None and value not in ("zscore", "minmax", "rrf"):
                raise ValueError(f"{name} must be zscore, minmax or rrf, got {value!r}")
        if self.llm_candidates < 0:
            raise ValueError(f"llm_candidates must be >= 0, got {self.llm_candidates}")
        if not isinstance(self.llm_explanations, bool):
            raise ValueError(
                f"llm_explanations must be true or false, got {self.llm_explanations!r}"
            )


def shipped_adapters() -> list[str]:
    """Names of the adapters bundled with this installation (sorted)."""
    if not ADAPTERS_DIR.is_dir():
        return []
    return sorted(p.parent.name for p in ADAPTERS_DIR.glob(f"*/{_CONFIG}"))


def shipped_adapter(name: str) -> Path | None:
    """The directory of the shipped adapter ``name`` (e.g. ``"ml-100k"``), or None."""
    folder = ADAPTERS_DIR / name
    if name not in shipped_adapters() or not (folder / _WEIGHTS).is_file():
        return None
    return folder


def _saved(folder: Path) -> dict[str, Any]:
    """The ``convrec_config.json`` of ``folder``, parsed."""
    saved: dict[str, Any] = json.loads((folder / _CONFIG).read_text(encoding="utf-8"))
    return saved


def shipped_fusion(adapter_dir: str | os.PathLike[str]) -> ShippedFusion | None:
    """The ``"recommender"`` entry of an adapter's ``convrec_config.json``, if any."""
    saved = _saved(Path(adapter_dir))
    entry = saved.get("recommender")
    return None if entry is None else ShippedFusion(**entry)


def adapter_training(adapter_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What an adapter was trained on, from its ``convrec_config.json``: ``{"data": name,
    "split": TrainConfig.split, "init": the same for its ``init_adapter`` or None}`` (data and
    split ``None`` when not recorded; ``{"unreadable": path}`` for an init adapter whose
    config cannot be read any more)."""
    return _training(Path(adapter_dir), set())


def _training(folder: Path, seen: set[Path]) -> dict[str, Any]:
    seen.add(folder.resolve())
    saved = _saved(folder)
    train = saved.get("train") or {}
    init = train.get("init_adapter")
    parent: dict[str, Any] | None = None
    if init:
        try:
            if Path(init).resolve() in seen:  # trained over itself: nothing more to read
                raise ValueError(init)
            parent = _training(Path(init), seen)
        except (OSError, ValueError):
            parent = {"unreadable": str(init)}
    return {
        "data": (saved.get("data") or {}).get("name"),
        "split": train.get("split"),
        "init": parent,
    }


def export_adapter(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    dtype: str = "float16",
    fusion: ShippedFusion | None = None,
    decoding: Decoding | None = None,
    inference: str | None = None,
    explainer: str | os.PathLike[str] | None = None,
) -> Path:
    """Copy the adapter of ``source`` (a ``convrec train --out`` directory or one of its
    checkpoints) to ``out`` with its floating-point weights cast to ``dtype``.

    A training directory that is not an adapter yet (a run stopped before ``--max-steps``)
    gives its best checkpoint by validation (:func:`training_adapter`).

    Only the adapter and ``convrec_config.json`` are copied (no optimizer or trainer
    state). ``fusion`` is written into the config as its ``"recommender"`` entry, the
    explanation ``decoding`` and the ``inference`` mode (``"merged"``, ``"int8"``,
    ``"lora"``: :class:`~convrec.llm.model.LLMConfig`) into its ``"llm"`` entry.

    ``explainer`` (an adapter or training directory) is exported the same way, with the same
    ``decoding`` but its own inference mode, into the ``explainer`` subdirectory: that
    adapter then writes the explanations (:attr:`~convrec.llm.model.LLMConfig.explainer`).
    Without it, the explainer ``source`` already has (if any) is exported along. The
    directory is written atomically; returns it.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from convrec.llm.checkpoint import atomic_dir, write_json

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    src = _adapter_dir(training_adapter(source))
    target = getattr(torch, dtype)
    tensors = {
        key: value.to(target) if value.is_floating_point() else value
        for key, value in load_file(str(src / _WEIGHTS)).items()
    }
    config: dict[str, Any] = _saved(src)
    config.pop("best", None)  # checkpoint bookkeeping
    config["export"] = {"dtype": dtype, "source_step": _step_of(src, config)}
    if fusion is not None:
        config["recommender"] = asdict(fusion)
    llm = config.setdefault("llm", {})
    if decoding is not None:
        llm.update(
            explain_beams=decoding.num_beams,
            explain_length_penalty=decoding.length_penalty,
            explain_no_repeat_ngram=decoding.no_repeat_ngram_size,
            explain_candidates=decoding.candidates,
        )
    if inference is not None:
        if inference not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {INFERENCE_MODES}, got {inference!r}")
        llm["inference"] = inference
    if explainer is None and llm.get("explainer"):
        explainer = src / llm["explainer"]
    if explainer is not None:
        explainer = _adapter_dir(training_adapter(explainer))
        if _saved(explainer).get("llm", {}).get("explainer"):
            raise ValueError(f"{explainer} has an explainer of its own: give a plain adapter")
        llm["explainer"] = EXPLAINER

    card = Path(out) / MODEL_CARD  # a model card written for an earlier export stays

    def fill(tmp: Path) -> None:
        shutil.copyfile(src / "adapter_config.json", tmp / "adapter_config.json")
        save_file(tensors, str(tmp / _WEIGHTS), metadata={"format": "pt"})
        write_json(tmp / _CONFIG, config)
        if card.is_file():
            shutil.copyfile(card, tmp / MODEL_CARD)
        if explainer is not None:
            export_adapter(explainer, tmp / EXPLAINER, dtype, decoding=decoding)

    return atomic_dir(Path(out), fill)


def copy_adapter(
    source: str | os.PathLike[str], out: str | os.PathLike[str], extra: dict[str, Any] | None
) -> Path:
    """``source``'s adapter files copied as they are to ``out`` (atomically), the entries of
    ``extra`` added to its ``convrec_config.json``; returns ``out``."""
    from convrec.llm.checkpoint import atomic_dir, write_json

    src = _adapter_dir(source)
    config = {**_saved(src), **(extra or {})}

    def fill(tmp: Path) -> None:
        for name in _FILES:
            shutil.copyfile(src / name, tmp / name)
        write_json(tmp / _CONFIG, config)
        explainer = config.get("llm", {}).get("explainer")
        if explainer:
            shutil.copytree(src / explainer, tmp / explainer)

    return atomic_dir(Path(out), fill)


def training_adapter(source: str | os.PathLike[str]) -> Path:
    """``source`` itself when it holds an adapter; for a training directory that does not
    (stopped early), its best checkpoint by validation, else its newest one."""
    from convrec.llm.checkpoint import list_checkpoints

    src = Path(source)
    found = list_checkpoints(src / "checkpoints")
    if (src / _WEIGHTS).is_file() or not found:
        return src
    newest = found[-1][1]
    best = _saved(newest).get("best") or {}
    by_step = dict(found)
    return by_step.get(best.get("step", -1), newest)


def _adapter_dir(source: str | os.PathLike[str]) -> Path:
    src = Path(source)
    missing = [name for name in (*_FILES, _CONFIG) if not (src / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{src} is not an adapter directory (missing {', '.join(missing)}; "
            "give a convrec train --out directory or one of its checkpoints)"
        )
    return src


def _step_of(folder: Path, config: dict[str, Any]) -> int | None:
    """The optimizer step an adapter holds: from a checkpoint's name (``step-00001234``), a
    finished run's ``train_log.json`` or, for an exported adapter, the step its
    ``convrec_config.json`` (``config``) recorded; None when none says."""
    name = folder.resolve().name
    if name.startswith("step-") and name[5:].isdigit():
        return int(name[5:])
    log = folder / "train_log.json"
    if log.is_file():
        history = json.loads(log.read_text(encoding="utf-8")).get("history") or []
        if history:
            return int(history[-1]["step"])
    step = (config.get("export") or {}).get("source_step")
    return None if step is None else int(step)
