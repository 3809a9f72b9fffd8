"""Which config dataclass fields `convrec train` and `convrec export` expose, under which flags."""

from __future__ import annotations

import argparse
from dataclasses import replace

from convrec.cli.options import Option, add_config_options

TRAIN_GROUPS: dict[str, tuple[str, ...]] = {
    "tasks and losses": (
        "tasks", "weights", "weighting", "rating_mse", "templates", "rerank_negatives",
        "session_share", "split",
    ),
    "optimisation": (
        "lr", "weight_decay", "warmup_steps", "max_grad_norm", "batch_size", "grad_accum",
        "max_steps", "epochs", "seed", "num_threads",
    ),
    "validation and checkpoints": (
        "eval_every", "save_every", "keep_last", "valid_ratings", "valid_users",
        "valid_explanations", "n_candidates",
    ),
    "model": ("init_adapter", "max_source_length", "max_target_length"),
}  # fmt: skip
"""``convrec train``'s option groups of :class:`~convrec.training.config.TrainConfig` fields
(every field appears once; names and defaults come from the dataclass)."""

TRAIN_OPTIONS = {
    "warmup_steps": Option(flag="--warmup"),
    "keep_last": Option(flag="--keep"),
    "num_threads": Option(flag="--threads"),
}
"""The flags that keep their historic short names."""

BACKBONE_OPTIONS = {
    "name_or_path": Option(
        flag="--backbone",
        metavar="NAME|PATH",
        help="seq2seq checkpoint: builtin:minilm-l6 (offline) or a local path / id",
    ),
    "lora_r": Option(metavar="R", help="LoRA rank"),
    "cross_init": Option(
        choices=("random", "self"),
        help="builtin backbone: new cross-attention copied from the same layer's pretrained "
        "self-attention (it trains far faster) or drawn at random",
    ),
}
"""``convrec train``'s options of :class:`~convrec.llm.backbone.BackboneConfig` fields."""

PROMPT_OPTIONS = {
    "rerank_text": Option(
        help="rerank: what the decoder reads of a candidate: short (title, year, CF rank, steps "
        "back and rating of its 2 nearest history items), full (genres, rating count and "
        "those items' titles too: about 2.5x slower to score) or keywords (short, with the "
        "item's genres and review keywords)",
    ),
    "fact_slots": Option(
        help="explanations from facts: the model reads and writes slot names ([ta], [fm]...) "
        "that the explainer fills from each item's facts, so it cannot misquote a number",
    ),
}
"""``convrec train``'s options of :class:`~convrec.llm.prompts.PromptConfig` fields."""


def add_train_args(p: argparse.ArgumentParser) -> None:
    """The options of ``convrec train`` (added on first use: BackboneConfig imports torch)."""
    from convrec.llm.backbone import BackboneConfig
    from convrec.llm.prompts import RERANK_TEXTS, PromptConfig
    from convrec.training.config import TrainConfig

    run = p.add_argument_group("run")
    run.add_argument("--out", required=True, metavar="DIR", help="output adapter directory")
    run.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    for title, names in TRAIN_GROUPS.items():
        group = p.add_argument_group(title)
        if title == "model":
            add_config_options(group, BackboneConfig, list(BACKBONE_OPTIONS), BACKBONE_OPTIONS)
            prompt = {
                **PROMPT_OPTIONS,
                "rerank_text": replace(PROMPT_OPTIONS["rerank_text"], choices=RERANK_TEXTS),
            }
            add_config_options(group, PromptConfig, list(prompt), prompt)
        add_config_options(group, TrainConfig, names, TRAIN_OPTIONS)


EXPORT_FUSION_OPTIONS = {
    "alpha": Option(
        default=None, metavar="A", help="CF weight of rankings: the adapter carries this fusion"
    ),
    "fusion": Option(help="with --alpha"),
    "rating_alpha": Option(
        default=None, metavar="A", help="CF weight of ratings (with --alpha; default: --alpha)"
    ),
    "llm_candidates": Option(metavar="N", help="with --alpha"),
    "session_alpha": Option(
        default=None,
        metavar="A",
        help="CF weight of session rankings (liked titles, no user id), chosen on protocol S "
        "(with --alpha; default: --alpha)",
    ),
    "session_fusion": Option(
        default=None,
        metavar="F",
        help="fusion of session rankings chosen on protocol S with --session-alpha "
        "(with --alpha; default: --fusion)",
    ),
}
"""``convrec export``'s options of :class:`~convrec.llm.shipped.ShippedFusion` fields; no
``--alpha``: the adapter carries no fusion."""

EXPORT_DECODING_OPTIONS = {
    "num_beams": Option(
        flag="--explain-beams",
        default=None,
        metavar="N",
        help="beam search for explanations (default: as trained, greedy)",
    ),
    "length_penalty": Option(flag="--explain-length-penalty", default=None, metavar="X"),
    "no_repeat_ngram_size": Option(flag="--explain-no-repeat-ngram", default=None, metavar="N"),
    "candidates": Option(
        flag="--explain-candidates",
        default=None,
        metavar="N",
        help="texts written per item, each opening with another likely first word; of those "
        "that pass the fact check, the first that names a liked title and is worded unlike "
        "the list's earlier ones is shown (default 1)",
    ),
}
"""``convrec export``'s options of :class:`~convrec.llm.scoring.Decoding` fields (help from its
docstring). Any of them sets the whole decoding, the ones not given at their defaults."""


def add_export_args(p: argparse.ArgumentParser) -> None:
    """The options of ``convrec export`` (added on first use: Decoding imports torch)."""
    from convrec.llm.scoring import Decoding
    from convrec.llm.scoring_types import INFERENCE_MODES
    from convrec.llm.shipped import ShippedFusion
    from convrec.recommender.config import FUSIONS

    p.add_argument("adapter", metavar="SRC", help="adapter or checkpoint directory")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--dtype",
        default="float16",
        choices=["float16", "bfloat16", "float32"],
        help="dtype of the exported weights",
    )
    fusion = p.add_argument_group("fusion chosen on validation (convrec eval's fused model)")
    opts = {
        **EXPORT_FUSION_OPTIONS,
        "fusion": Option(help="with --alpha", choices=FUSIONS),
        "session_fusion": replace(EXPORT_FUSION_OPTIONS["session_fusion"], choices=FUSIONS),
    }
    add_config_options(fusion, ShippedFusion, list(opts), opts)
    fusion.add_argument(
        "--session-cf",
        default=None,
        metavar="K=V,...",
        help="the sessions' candidate model chosen on protocol S (cf_session_tuned), e.g. "
        "k=50,popularity=0.5 (with --alpha; default: the shipped session model)",
    )
    fusion.add_argument(
        "--no-llm-explanations",
        dest="llm_explanations",
        action="store_false",
        help="with --alpha: show the explanations rendered from the facts instead of the "
        "adapter's texts (for an adapter whose texts rarely pass the fact check)",
    )
    decoding = p.add_argument_group(
        "decoding of explanations (any of these sets all four, the others at their defaults)"
    )
    names = list(EXPORT_DECODING_OPTIONS)
    add_config_options(decoding, Decoding, names, EXPORT_DECODING_OPTIONS)
    p.add_argument(
        "--inference",
        choices=INFERENCE_MODES,
        help="what scores at inference: the LoRA-merged copy, that copy in dynamic int8 "
        "(faster on CPU, small numeric differences) or the LoRA model (default: as saved)",
    )
    p.add_argument(
        "--explainer",
        metavar="SRC2",
        help="a second adapter or training directory, exported along (with the decoding "
        "above and its own inference setting) to write the explanations, so that the "
        "rating and ranking skills of SRC stay as they are",
    )
