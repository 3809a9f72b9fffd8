"""Accuracy metrics: rating error, top-K ranking with pessimistic ties, explanation text quality."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error of ``float[n]`` predictions against ``float[n]`` truths."""
    diff = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return float(np.sqrt(np.mean(diff * diff)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error of ``float[n]`` predictions against ``float[n]`` truths."""
    return float(
        np.mean(np.abs(np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)))
    )


def pessimistic_rank(scores: np.ndarray, target: np.ndarray, exclude: sp.csr_matrix) -> np.ndarray:
    """0-based rank of each target among its candidates, ties counted against the target.

    ``rank0 = #{candidate j != target : score[j] >= score[target]}``, where the
    candidates of a row are all items except those set in ``exclude``. A NaN
    score counts as ``-inf``.

    Parameters
    ----------
    scores
        ``float[B, n_items]`` scores for the users of the batch.
    target
        ``int[B]`` held-out item of each row.
    exclude
        ``[B, n_items]`` CSR of items that are not candidates (the history).

    Returns
    -------
    numpy.ndarray
        ``int64[B]`` ranks.
    """
    s = np.where(np.isnan(scores), -np.inf, scores).astype(np.float64, copy=True)
    rows = np.arange(len(target))
    # a target inside its own history still competes; everything else there is removed
    mask = exclude.tocoo()
    keep = mask.col != target[mask.row]
    s[mask.row[keep], mask.col[keep]] = np.nan
    t = s[rows, target]
    with np.errstate(invalid="ignore"):
        ahead = (s >= t[:, None]).sum(axis=1)
    return (ahead - 1).astype(np.int64)


def ranking_metrics(rank0: np.ndarray, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """HR@K and NDCG@K (one relevant item per user) averaged over ``int[B]`` ranks."""
    rank0 = np.asarray(rank0)
    out: dict[str, float] = {}
    for k in ks:
        hit = rank0 < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(rank0 + 2.0), 0.0).mean())
    return out


def rating_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """``{"rmse": ..., "mae": ...}`` of predictions (callers clip to the rating scale)."""
    return {"rmse": rmse(predicted, actual), "mae": mae(predicted, actual)}


def unique_sentence_ratio(generated: Sequence[str]) -> float:
    """USR (PETER): distinct generated sentences / all generated sentences."""
    if not generated:
        return 0.0
    return len({_norm(g) for g in generated}) / len(generated)


def mean_pairwise_distance(generated: Sequence[str], max_items: int = 2000, seed: int = 0) -> float:
    """DIV: mean pairwise Jaccard distance between the word sets of the generated texts.

    1.0 when no two texts share a word, 0.0 when all are the same set. Above
    ``max_items`` texts a seeded sample of that size is used.
    """
    texts = list(generated)
    if len(texts) < 2:
        return 0.0
    if len(texts) > max_items:
        pick = np.random.default_rng(seed).choice(len(texts), max_items, replace=False)
        texts = [texts[i] for i in pick]
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, t in enumerate(texts):
        for w in set(_norm(t).split()):
            rows.append(r)
            cols.append(vocab.setdefault(w, len(vocab)))
    words = sp.csr_matrix(
        (np.ones(len(rows), np.float64), (rows, cols)), shape=(len(texts), max(1, len(vocab)))
    )
    inter = (words @ words.T).toarray()
    size = np.asarray(words.sum(axis=1)).ravel()
    union = size[:, None] + size[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(union > 0, 1.0 - inter / union, 0.0)
    n = len(texts)
    return float((dist.sum() - np.trace(dist)) / (n * (n - 1)))


def explanation_metrics(generated: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU-1/4 (sacrebleu, corpus level), ROUGE-1/2/L F1 (rouge-score), USR and DIV.

    BLEU and ROUGE are on a 0-100 scale; USR and DIV on 0-1.
    """
    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} generated texts for {len(references)} references")
    import sacrebleu
    from rouge_score import rouge_scorer

    hyps = [_norm(g) for g in generated]
    refs = [_norm(r) for r in references]
    bleu1 = sacrebleu.metrics.BLEU(max_ngram_order=1).corpus_score(hyps, [refs]).score
    bleu4 = sacrebleu.metrics.BLEU(max_ngram_order=4).corpus_score(hyps, [refs]).score
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    sums = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for h, r in zip(hyps, refs, strict=True):
        for key, value in scorer.score(r, h).items():
            sums[key] += value.fmeasure
    n = max(1, len(hyps))
    return {
        "bleu1": float(bleu1),
        "bleu4": float(bleu4),
        "rouge1": 100.0 * sums["rouge1"] / n,
        "rouge2": 100.0 * sums["rouge2"] / n,
        "rougeL": 100.0 * sums["rougeL"] / n,
        "usr": unique_sentence_ratio(generated),
        "div": mean_pairwise_distance(generated),
    }


def _norm(text: str) -> str:
    return " ".join(text.lower().split())
