"""A tiny T5 with a WordPiece vocabulary trained on the data, for offline tests and CI."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from convrec.data.dataset import Dataset
from convrec.llm.tasks import REGISTRY

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def corpus(data: Dataset) -> list[str]:
    """Texts the vocabulary is trained on: titles, genres, digits, template words, reviews."""
    texts = list(data.catalog.title) + [" ".join(g) for g in data.catalog.genres]
    texts += [f"item {e}" for e in data.items.external[:5000]]
    texts += ["1 2 3 4 5 0 6 7 8 9 . , : ( ) / ' ?", " ".join(REGISTRY.words())]
    texts += ["item mean from ratings neighbour new none nothing yet keywords"]
    texts += ["you will enjoy because you liked is a pick not for disliked probably average match"]
    texts += ["your taste and user yes no"]
    if data.summary is not None:
        texts += data.summary[:20000]
    if data.review_text is not None:
        texts += data.review_text[:5000]
    return texts


def train_wordpiece(texts: Iterable[str], vocab_size: int = 4000) -> Any:
    """A lowercasing BERT-style WordPiece ``PreTrainedTokenizerFast``: [CLS] text [SEP]."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS))
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        eos_token="[SEP]",
        bos_token="[CLS]",
    )


def build_tiny_t5(
    data: Dataset,
    out_dir: str | os.PathLike[str],
    *,
    d_model: int = 128,
    n_layers: int = 2,
    n_heads: int = 4,
    vocab_size: int = 4000,
    seed: int = 0,
) -> Path:
    """Write a tiny randomly initialised T5 checkpoint (safetensors) with its tokenizer.

    The folder loads through the same path as real checkpoints:
    ``load_backbone(BackboneConfig(name_or_path=str(out_dir)))``.

    Parameters
    ----------
    data : Dataset
        Source of the vocabulary (titles, genres, summaries...).
    d_model, n_layers, n_heads, vocab_size : int
        Hidden size, encoder and decoder layers each, heads, WordPiece vocabulary size.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    from transformers import T5Config, T5ForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_wordpiece(corpus(data), vocab_size)
    pad, start, eos = (tokenizer.convert_tokens_to_ids(t) for t in ("[PAD]", "[CLS]", "[SEP]"))
    config = T5Config(  # type: ignore[call-arg]
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=d_model // n_heads,
        d_ff=4 * d_model,
        num_layers=n_layers,
        num_decoder_layers=n_layers,
        num_heads=n_heads,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        pad_token_id=pad,
        eos_token_id=eos,
        decoder_start_token_id=start,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5ForConditionalGeneration(config)
    model.generation_config.decoder_start_token_id = start
    model.generation_config.pad_token_id = pad
    model.generation_config.eos_token_id = eos
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
