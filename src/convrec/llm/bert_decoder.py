"""Fast paths of BERT decoders (the default backbone's): the first decoder step with its
cross-attention folded, and the LM head at a few vocabulary entries.

The folded first step never projects the encoder states to keys and values. For one query
``q`` of a head, ``q . (W_k h + b_k) = (W_k^T q) . h + q . b_k``: the second term is the same
for every encoder position and cancels in the softmax, and the context
``sum_l a_l (W_v h_l + b_v) = W_v (sum_l a_l h_l) + b_v`` since the weights sum to one. Scoring a
rating or a yes / no answer reads one decoder step per prompt, so each of its queries meets
the ``L`` encoder states once: projecting them costs ``2 L H^2`` multiply-adds per layer, the
folded form ``4 T H^2 + 2 T L H`` (``T`` decoder tokens, here 1). The decoder's other parts
run as its own modules.

A yes / no score ``log P(yes) - log P(no)`` is the difference of the two logits (the softmax's
normaliser cancels), and a softmax over the five rating tokens needs their logits alone, so
:func:`token_logits` runs the LM head's transform and then a few rows of its ``vocab x H``
projection instead of all of them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import EncoderDecoderModel


def _dense(module: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Float weight ``[out, in]`` and bias ``[out]`` of a plain or dynamic-int8 linear layer;
    None for any other module (a LoRA-wrapped layer: its weight is not one tensor)."""
    if type(module) is nn.Linear:
        return module.weight, module.bias
    if type(module).__name__ == "Linear" and callable(getattr(module, "weight", None)):
        weight = module.weight()  # torch.ao dynamic quantized Linear
        if getattr(weight, "is_quantized", False):
            return weight.dequantize(), module.bias()
    return None


def _head(model: Any) -> Any:
    """The BERT LM head (``transform`` then the ``decoder`` projection) of an
    ``EncoderDecoderModel``'s decoder, or None."""
    if not isinstance(model, EncoderDecoderModel):
        return None
    head = getattr(getattr(model.decoder, "cls", None), "predictions", None)
    if head is None or getattr(head, "transform", None) is None:
        return None
    return head if type(getattr(head, "decoder", None)) is nn.Linear else None


def heads_tokens(model: Any) -> bool:
    """Whether :func:`token_logits` can read ``model``'s LM head: a BERT LM head whose
    vocabulary projection is a plain linear layer (an int8 one would be dequantized whole
    for a few rows: its own int8 product over the vocabulary is cheaper)."""
    return _head(model) is not None


def token_logits(model: Any, hidden: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """The logits of ``token_ids`` (``int64[K]``) from final decoder states ``hidden``
    (``float32[B, H]``): ``float32[B, K]``, the columns of the full LM head's output."""
    head = _head(model)
    vocab = head.decoder  # a plain nn.Linear (heads_tokens)
    out = head.transform(hidden) @ vocab.weight[token_ids].T
    return out if vocab.bias is None else out + vocab.bias[token_ids]


def folds(model: Any) -> bool:
    """Whether :func:`first_step_logits` can run ``model``: an ``EncoderDecoderModel`` whose
    decoder is a BERT LM-head model reading the encoder states as they are, its cross-attention
    keys / values plain (merged) or dynamic int8 linear layers, in eval mode."""
    if not isinstance(model, EncoderDecoderModel) or model.training:
        return False
    if getattr(model, "enc_to_dec_proj", None) is not None:
        return False
    bert, cls = getattr(model.decoder, "bert", None), getattr(model.decoder, "cls", None)
    layers = getattr(getattr(bert, "encoder", None), "layer", None)
    if cls is None or layers is None or getattr(bert, "embeddings", None) is None:
        return False
    for layer in layers:
        cross = getattr(getattr(layer, "crossattention", None), "self", None)
        if cross is None or _dense(cross.key) is None or _dense(cross.value) is None:
            return False
    return True


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    """``[B, T, H]`` -> ``[B, n, T, H / n]``."""
    return x.view(*x.shape[:2], n, -1).transpose(1, 2)


def _self_attention(module: Any, x: torch.Tensor) -> torch.Tensor:
    """Causal self-attention of the decoder tokens ``x`` (``[B, T, H]``), heads merged."""
    n = module.num_attention_heads
    q, k, v = (_heads(proj(x), n) for proj in (module.query, module.key, module.value))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=x.shape[1] > 1)
    return out.transpose(1, 2).reshape(x.shape)


def _folded_cross_attention(
    module: Any, x: torch.Tensor, states: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Cross-attention of ``x`` (``[B, T, H]``) over ``states`` (``[B, L, H]``) without their
    key / value projection; ``bias`` (``[B, 1, 1, L]``) is 0 at real positions, -inf at padding.
    Returns ``[B, T, H]``, heads merged."""
    n = module.num_attention_heads
    d = x.shape[-1] // n
    key, _ = _dense(module.key)  # type: ignore[misc]
    value, value_bias = _dense(module.value)  # type: ignore[misc]
    q = _heads(module.query(x), n)  # [B, n, T, d]
    reach = torch.einsum("bntd,ndh->bnth", q, key.view(n, d, -1))  # W_k^T q per head
    scores = torch.einsum("bnth,blh->bntl", reach, states) * d**-0.5 + bias
    context = torch.einsum("bntl,blh->bnth", torch.softmax(scores, dim=-1), states)
    out = torch.einsum("bnth,ndh->bntd", context, value.view(n, d, -1))
    out = out + value_bias.view(1, n, 1, d)
    return out.transpose(1, 2).reshape(x.shape)


def first_step_logits(
    model: Any,
    states: torch.Tensor,
    mask: torch.Tensor,
    decoder_ids: torch.Tensor,
    token_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Next-token logits after ``decoder_ids`` (the decoder's first ``T`` tokens), folded.

    Parameters
    ----------
    model : EncoderDecoderModel
        One :func:`folds` accepts.
    states : torch.Tensor
        ``float32[B, L, H]`` encoder output.
    mask : torch.Tensor
        ``int64[B, L]`` encoder attention mask (1 = real token).
    decoder_ids : torch.Tensor
        ``int64[B, T]`` decoder inputs (start token first).
    token_ids : torch.Tensor, optional
        ``int64[K]``: head only these vocabulary entries (:func:`heads_tokens` must hold).

    Returns
    -------
    torch.Tensor
        ``float32[B, vocab]`` (``[B, K]`` with ``token_ids``): the logits at the last decoder
        position, as ``model(encoder_outputs=(states,), attention_mask=mask,
        decoder_input_ids=decoder_ids).logits[:, -1]`` gives them (to rounding).
    """
    bert = model.decoder.bert
    bias = torch.zeros(mask.shape, dtype=states.dtype, device=states.device)
    bias = bias.masked_fill(mask == 0, float("-inf"))[:, None, None, :]
    x = bert.embeddings(input_ids=decoder_ids)
    for layer in bert.encoder.layer:
        x = layer.attention.output(_self_attention(layer.attention.self, x), x)
        cross = _folded_cross_attention(layer.crossattention.self, x, states, bias)
        x = layer.crossattention.output(cross, x)
        x = layer.output(layer.intermediate(x), x)
    if token_ids is not None:
        return token_logits(model, x[:, -1], token_ids)
    return model.decoder.cls(x[:, -1:])[:, 0]
