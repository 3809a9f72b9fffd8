"""Decoder plumbing of the fast scoring paths: held cross-attention caches, LM-head positions."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache, EncoderDecoderModel
from transformers.cache_utils import DynamicLayer

from convrec.llm.backbone import Backbone
from convrec.llm.bert_decoder import token_logits


class _HeldLayer(DynamicLayer):
    """A cache layer holding the given keys / values as they are: filling a plain
    ``DynamicLayer`` concatenates them onto an empty tensor, one more copy of every
    candidate's cross-attention keys / values."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.lazy_initialization(keys, values)
        self.keys, self.values = keys, values


def cross_cache(
    cross: list[tuple[torch.Tensor, torch.Tensor]], rows: torch.Tensor
) -> EncoderDecoderCache:
    """A fresh decoder cache whose cross-attention part holds the ``rows`` of ``cross`` (one
    ``(keys, values)`` pair of ``[P, heads, L, head_dim]`` per layer): the decoder then reads
    them instead of projecting the encoder states again; its self-attention part starts empty."""
    keys_values = DynamicCache()
    keys_values.layers = [
        _HeldLayer(keys.index_select(0, rows), values.index_select(0, rows))
        for keys, values in cross
    ]
    return EncoderDecoderCache(DynamicCache(), keys_values)


def _per_row_positions() -> bool:
    """Whether transformers' ``slice_logits_to_keep`` picks a position per row from a 2-D
    integer tensor (5.21 on); an older one indexes every row at every listed position."""
    try:
        from transformers.modeling_utils import slice_logits_to_keep
    except ImportError:
        return False
    hidden = torch.arange(6.0).reshape(2, 3, 1)
    kept = slice_logits_to_keep(hidden, torch.tensor([[0], [2]]))
    return tuple(kept.shape) == (2, 1, 1) and kept.flatten().tolist() == [0.0, 5.0]


def keeps_logits(backbone: Backbone) -> bool:
    """Whether the model can run its LM head at chosen decoder positions only: the decoder of
    an ``EncoderDecoderModel`` takes Hugging Face ``logits_to_keep``, sliced per row."""
    base = backbone.base_model
    if not isinstance(base, EncoderDecoderModel):
        return False
    forward = type(base.decoder).forward
    if "logits_to_keep" not in inspect.signature(forward).parameters:
        return False
    try:
        sliced = "slice_logits_to_keep" in inspect.getsource(forward)
    except (OSError, TypeError):  # no source to read: take the full-logits branch
        return False
    return sliced and _per_row_positions()


def answer_logits(model: Any, inputs: dict[str, Any], last: torch.Tensor, keep: bool) -> Any:
    """Logits at each decoder row's position ``last`` (``int64[B]``): ``[B, vocab]``.

    ``inputs`` are the model's keyword arguments (decoder inputs included); with ``keep``
    (:func:`keeps_logits`) the LM head runs at those positions only: the vocabulary projection
    costs about as much per token as the decoder layers of the default backbone."""
    if keep:
        return model(**inputs, decoder_logits_to_keep=last[:, None]).logits[:, 0]
    return model(**inputs).logits[torch.arange(len(last), device=last.device), last]


def answer_margin(
    model: Any, base: Any, inputs: dict[str, Any], last: torch.Tensor, ids: list[int]
) -> Any:
    """``logit(ids[1]) - logit(ids[0])`` at each decoder row's position ``last``: ``[B]``, the
    log-probability margin of the two answers. Needs :func:`keeps_logits` and
    :func:`~convrec.llm.bert_decoder.heads_tokens` of ``base`` (the model under any PEFT
    wrapper): the decoder runs with no LM-head position kept, and the head's transform and two
    rows of its projection read the final states."""
    none = torch.zeros(inputs["decoder_input_ids"].shape, dtype=torch.bool, device=last.device)
    out = model(**inputs, decoder_logits_to_keep=none, output_hidden_states=True)
    hidden = out.decoder_hidden_states[-1][torch.arange(len(last), device=last.device), last]
    pair = token_logits(base, hidden.float(), torch.tensor(ids, device=last.device))
    return pair[:, 1] - pair[:, 0]
