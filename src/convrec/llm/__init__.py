"""The language model: tasks and templates, prompts, backbone + LoRA, scoring, LLMModel.

``tasks`` and ``prompts`` need no torch; the torch-backed names (``load_backbone``,
``Scorer``, ``LLMModel``...) are imported on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from convrec.llm.prompts import PromptBuilder, PromptConfig, PromptRecord
from convrec.llm.tasks import REGISTRY, PromptFields, Task, Template, TemplateRegistry

_LAZY = {
    "AdapterBank": "convrec.llm.bank",
    "Backbone": "convrec.llm.backbone",
    "BackboneConfig": "convrec.llm.backbone",
    "DEFAULT_BACKBONE": "convrec.llm.backbone",
    "load_backbone": "convrec.llm.backbone",
    "load_adapter": "convrec.llm.backbone",
    "wrap_lora": "convrec.llm.backbone",
    "build_tiny_t5": "convrec.llm.tiny",
    "RatingScores": "convrec.llm.scoring",
    "Scorer": "convrec.llm.scoring",
    "LLMConfig": "convrec.llm.model",
    "LLMModel": "convrec.llm.model",
}

__all__ = [
    "REGISTRY",
    "PromptBuilder",
    "PromptConfig",
    "PromptFields",
    "PromptRecord",
    "Task",
    "Template",
    "TemplateRegistry",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'convrec.llm' has no attribute {name!r}")
