"""Metrics: rating error, top-K ranking with pessimistic ties, list diversity and popularity bias,
explanation text quality."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from convrec.cf.scoring import rank_top_k


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
    rank, _ = rank_top_k(scores, exclude, 0, target=target)
    return rank


def ranking_metrics(rank0: np.ndarray, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """HR@K and NDCG@K (one relevant item per user) averaged over ``int[B]`` ranks."""
    rank0 = np.asarray(rank0)
    out: dict[str, float] = {}
    for k in ks:
        hit = rank0 < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(rank0 + 2.0), 0.0).mean())
    return out


def _masked(scores: np.ndarray, exclude: sp.csr_matrix) -> np.ndarray:
    """``float64`` copy of ``scores`` with NaN and the ``exclude`` entries set to ``-inf``."""
    s = np.where(np.isnan(scores), -np.inf, scores).astype(np.float64, copy=True)
    mask = exclude.tocoo()
    s[mask.row, mask.col] = -np.inf
    return s


def top_k_items(scores: np.ndarray, exclude: sp.csr_matrix, k: int = 10) -> np.ndarray:
    """Each row's ``k`` best-scored items outside ``exclude`` (ties to the lower index).

    Parameters
    ----------
    scores
        ``float[B, n_items]``; NaN and -inf mark items that are not recommended.
    exclude
        ``[B, n_items]`` CSR of items left out (the history).
    k
        List length.

    Returns
    -------
    numpy.ndarray
        ``int32[B, k]`` item indices, best first, padded with -1.
    """
    _, top = rank_top_k(scores, exclude, k)
    return top


def intra_list_diversity(lists: np.ndarray, item_vectors: np.ndarray | sp.spmatrix) -> float:
    """ILD: mean pairwise cosine distance ``1 - cos(v_i, v_j)`` within each list, averaged.

    A zero vector has cosine 0 with everything (distance 1). Lists with fewer than two
    items do not count.

    Parameters
    ----------
    lists
        ``int[B, k]`` recommended item indices, ``-1`` for padding.
    item_vectors
        ``float[n_items, d]`` item features (dense or sparse), e.g. genre indicators.

    Returns
    -------
    float
        In [0, 2] (0: every list holds identical items; 1: orthogonal features); 0.0 when
        no list has two items.
    """
    lists = np.asarray(lists)
    vectors = sp.csr_matrix(item_vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    unit = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ vectors
    total, counted = 0.0, 0
    for start in range(0, len(lists), 256):
        block = lists[start : start + 256]
        valid = block >= 0
        x = unit[np.where(valid, block, 0).ravel()].toarray().reshape(*block.shape, -1)
        x *= valid[..., None]
        dist = 1.0 - np.einsum("bkd,bld->bkl", x, x)
        pairs = valid[:, :, None] & valid[:, None, :] & ~np.eye(block.shape[1], dtype=bool)
        n_pairs = pairs.sum(axis=(1, 2))
        keep = n_pairs > 0
        total += float((np.where(pairs, dist, 0.0).sum(axis=(1, 2))[keep] / n_pairs[keep]).sum())
        counted += int(keep.sum())
    return total / counted if counted else 0.0


def catalog_coverage(lists: np.ndarray, n_items: int) -> float:
    """Share of the ``n_items`` catalog that appears in at least one ``int[B, k]`` list."""
    lists = np.asarray(lists)
    return len(np.unique(lists[lists >= 0])) / n_items if n_items else 0.0


def mean_popularity(lists: np.ndarray, popularity: np.ndarray, normalise: bool = False) -> float:
    """Mean popularity of the recommended items (every list entry counts once).

    Parameters
    ----------
    lists
        ``int[B, k]`` item indices, ``-1`` for padding.
    popularity
        ``float[n_items]`` e.g. training interaction counts.
    normalise
        Divide by the most popular item's popularity (result in [0, 1]).
    """
    lists = np.asarray(lists)
    pop = np.asarray(popularity, np.float64)
    items = lists[lists >= 0]
    if not len(items):
        return 0.0
    value = float(pop[items].mean())
    return value / float(pop.max()) if normalise and pop.max() > 0 else value


def diversity_metrics(
    lists: np.ndarray, item_vectors: np.ndarray | sp.spmatrix, popularity: np.ndarray
) -> dict[str, float]:
    """``ild@K``, ``coverage@K``, ``pop@K`` and ``pop_norm@K`` of ``int[B, K]`` lists.

    ``item_vectors`` (``float[n_items, d]``) define ILD's distance; ``popularity``
    (``float[n_items]``, training counts) gives the mean popularity, raw and divided by
    the maximum.
    """
    k = np.asarray(lists).shape[1]
    return {
        f"ild@{k}": intra_list_diversity(lists, item_vectors),
        f"coverage@{k}": catalog_coverage(lists, len(popularity)),
        f"pop@{k}": mean_popularity(lists, popularity),
        f"pop_norm@{k}": mean_popularity(lists, popularity, normalise=True),
    }


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
    try:
        import sacrebleu
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise ImportError(
            f"explanation metrics need {exc.name}, which is not installed: "
            'pip install "convrec[eval]"'
        ) from exc

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


def target_set_metrics(
    scores: np.ndarray, exclude: sp.csr_matrix, targets: sp.csr_matrix, ks: Sequence[int] = (10, 20)
) -> dict[str, np.ndarray]:
    """Per-row Recall@K, HR@K and NDCG@K against a set of target items (protocol S).

    Ties are broken against the targets (a target shares its rank with every equally scored
    non-target ahead of it), so a constant score earns nothing by index order.

    Parameters
    ----------
    scores
        ``float[B, n_items]``; NaN and -inf mark items that are not recommended.
    exclude
        ``[B, n_items]`` CSR of candidates left out (the session).
    targets
        ``[B, n_items]`` CSR, non-zero at each row's target items (at least one per row).
    ks
        List lengths.

    Returns
    -------
    dict of ``float64[B]``
        ``recall@K`` (hits / number of targets), ``hr@K`` (any hit), ``ndcg@K`` (binary
        gains, ideal DCG over ``min(K, number of targets)``), per K.
    """
    s = _masked(scores, exclude)
    is_target = (targets != 0).toarray()
    n_targets = is_target.sum(axis=1)
    if (n_targets == 0).any():
        raise ValueError("every row needs at least one target item")
    k_max = max(ks)
    # by score (desc), then non-targets first, then index: the pessimistic order
    order = np.lexsort((is_target, -s), axis=1)[:, :k_max]
    hit = np.take_along_axis(is_target & np.isfinite(s), order, axis=1)
    discount = 1.0 / np.log2(np.arange(k_max) + 2.0)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hits = hit[:, :k]
        found = hits.sum(axis=1)
        ideal = np.cumsum(discount[:k])[np.minimum(n_targets, k) - 1]
        out[f"recall@{k}"] = found / n_targets
        out[f"hr@{k}"] = (found > 0).astype(np.float64)
        out[f"ndcg@{k}"] = (hits * discount[:k]).sum(axis=1) / ideal
    return out
