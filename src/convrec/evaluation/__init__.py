"""Evaluation: protocols A / B / C and their runner, model specs and grids, the LLM and fused
evaluation models, explanation floors, metrics and seeded splits."""

from convrec.evaluation.protocols import EvalReport, rating_scale, run_protocol
from convrec.evaluation.specs import (
    ModelSpec,
    default_models,
    model_names,
    parse_model_selection,
    reference_models,
    select_models,
)
from convrec.evaluation.splits import Split, fingerprint, leave_last_out_split, random_split

__all__ = [
    "EvalReport",
    "ModelSpec",
    "Split",
    "default_models",
    "fingerprint",
    "leave_last_out_split",
    "model_names",
    "parse_model_selection",
    "random_split",
    "rating_scale",
    "reference_models",
    "run_protocol",
    "select_models",
]
