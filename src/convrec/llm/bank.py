"""AdapterBank: several LoRA adapters (one per domain) on one backbone, chosen per call.

The base model is loaded once; each adapter adds only its LoRA matrices and its fully
trained modules (``modules_to_save``) under its own peft adapter name. An
:class:`~convrec.llm.model.LLMModel` loaded through a bank selects its adapter for the
length of each scoring or generation call, under the bank's lock, so models of different
domains can be used from several threads. Scoring runs on the LoRA-wrapped model itself
(``inference="lora"``): merging one adapter into the weights would take them from the
others.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from convrec.llm.backbone import (
    Backbone,
    BackboneConfig,
    adapter_backbone_config,
    check_adapter_weights,
    load_adapter,
    peft_without_bitsandbytes,
)

_SHARED_FIELDS = ("name_or_path", "quantization", "dtype")
"""Backbone settings two adapters must agree on to share a base model."""


class AdapterBank:
    """Named adapters on one shared backbone.

    >>> bank = AdapterBank()
    >>> movies = LLMModel.from_pretrained(ml_dir, bank=bank, name="ml-100k")    # doctest: +SKIP
    >>> music = LLMModel.from_pretrained(mi_dir, bank=bank, name="amazon-mi5")  # doctest: +SKIP

    ``movies`` and ``music`` are :class:`~convrec.llm.model.LLMModel` objects (each still
    needs ``fit`` on its domain's data) whose calls switch the shared model to their adapter.
    """

    def __init__(self) -> None:
        self.backbone: Backbone | None = None
        self.names: list[str] = []
        self._lock = threading.RLock()

    def attach(self, name: str, adapter_dir: str | os.PathLike[str]) -> Backbone:
        """Add the adapter under ``name``; returns a view of the shared backbone with the
        adapter's own :class:`BackboneConfig` (its length limits)."""
        config = adapter_backbone_config(adapter_dir)
        check_adapter_weights(adapter_dir)
        with self._lock:
            if name in self.names:
                raise ValueError(f"the bank already has an adapter named {name!r}")
            if self.backbone is None:
                self.backbone = load_adapter(adapter_dir, adapter_name=name)
            else:
                self._check_compatible(config, Path(adapter_dir))
                with peft_without_bitsandbytes(config), warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                    self.backbone.model.load_adapter(str(adapter_dir), adapter_name=name)
                self.backbone.model.eval()
            self.names.append(name)
            return replace(self.backbone, config=config)

    def _check_compatible(self, config: BackboneConfig, path: Path) -> None:
        assert self.backbone is not None
        base = self.backbone.config
        for field in _SHARED_FIELDS:
            if getattr(config, field) != getattr(base, field):
                raise ValueError(
                    f"{path}: its backbone {field} is {getattr(config, field)!r}, the bank's "
                    f"is {getattr(base, field)!r}; adapters share a bank only on one base model"
                )

    @contextmanager
    def active(self, name: str) -> Iterator[None]:
        """Hold the bank and select adapter ``name`` for the duration of the block."""
        with self._lock:
            if self.backbone is None or name not in self.names:
                raise KeyError(f"no adapter named {name!r} in the bank ({self.names})")
            self.backbone.model.set_adapter(name)
            yield
