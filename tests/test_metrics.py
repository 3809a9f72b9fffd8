"""Known-answer tests of the rating, ranking and explanation metrics."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from convrec.evaluation.metrics import (
    catalog_coverage,
    diversity_metrics,
    explanation_metrics,
    intra_list_diversity,
    mae,
    mean_pairwise_distance,
    mean_popularity,
    pessimistic_rank,
    ranking_metrics,
    rmse,
    top_k_items,
    unique_sentence_ratio,
)


def test_rmse_mae_known_values():
    assert rmse(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(math.sqrt(2.5))
    assert mae(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(1.5)


def test_pessimistic_rank_counts_ties_against_the_target():
    scores = np.array([[0.5, 0.5, 0.1, 0.9]])
    empty = sp.csr_matrix((1, 4))
    # item 0 ties with item 1 and is beaten by item 3
    assert pessimistic_rank(scores, np.array([0]), empty).tolist() == [2]
    # all-equal scores put the target last among the candidates
    assert pessimistic_rank(np.zeros((1, 4)), np.array([2]), empty).tolist() == [3]


def test_pessimistic_rank_excludes_history_but_not_the_target():
    scores = np.array([[0.9, 0.8, 0.1, 0.7]])
    history = sp.csr_matrix(np.array([[1.0, 0.0, 1.0, 0.0]]))
    # item 0 is history (excluded); item 2 is the target even though it is also in history
    assert pessimistic_rank(scores, np.array([2]), history).tolist() == [2]
    assert pessimistic_rank(scores, np.array([1]), history).tolist() == [0]


def test_nan_scores_count_as_minus_infinity():
    scores = np.array([[np.nan, 0.2, np.nan]])
    assert pessimistic_rank(scores, np.array([1]), sp.csr_matrix((1, 3))).tolist() == [0]
    assert pessimistic_rank(scores, np.array([0]), sp.csr_matrix((1, 3))).tolist() == [2]


def test_ranking_metrics_known_values():
    out = ranking_metrics(np.array([0, 4, 5, 9, 10]), ks=(5, 10))
    assert out["hr@5"] == pytest.approx(2 / 5)
    assert out["hr@10"] == pytest.approx(4 / 5)
    expected = (1 + 1 / math.log2(6) + 1 / math.log2(7) + 1 / math.log2(11)) / 5
    assert out["ndcg@10"] == pytest.approx(expected)


def test_usr_and_div():
    assert unique_sentence_ratio(["a b", "A  b", "c"]) == pytest.approx(2 / 3)
    assert mean_pairwise_distance(["a b", "a b"]) == pytest.approx(0.0)
    assert mean_pairwise_distance(["a b", "c d"]) == pytest.approx(1.0)
    # {a,b} vs {b,c}: jaccard 1/3 -> distance 2/3
    assert mean_pairwise_distance(["a b", "b c"]) == pytest.approx(2 / 3)


def test_explanation_metrics_perfect_and_disjoint():
    refs = ["great strings for the price", "works well on my guitar"]
    perfect = explanation_metrics(refs, refs)
    assert perfect["bleu4"] == pytest.approx(100.0)
    assert perfect["rougeL"] == pytest.approx(100.0)
    assert perfect["usr"] == 1.0
    wrong = explanation_metrics(["zzz qqq", "zzz qqq"], refs)
    assert wrong["bleu1"] == pytest.approx(0.0)
    assert wrong["rouge1"] == pytest.approx(0.0)
    assert wrong["usr"] == 0.5
    with pytest.raises(ValueError, match="2 references"):
        explanation_metrics(["x"], refs)


def test_top_k_items_skips_history_and_missing_scores():
    scores = np.array([[0.5, 0.9, 0.9, np.nan, 0.1]])
    history = sp.csr_matrix(np.array([[0, 1, 0, 0, 0]]))
    # item 1 is history; items 1 and 2 tie but 1 is gone; NaN is never recommended
    assert top_k_items(scores, history, k=3).tolist() == [[2, 0, 4]]
    assert top_k_items(scores, history, k=5).tolist() == [[2, 0, 4, -1, -1]]
    assert top_k_items(scores, history, k=7).tolist() == [[2, 0, 4, -1, -1, -1, -1]]


# items: 0 = [1, 0], 1 = [0, 1], 2 = [1, 1], 3 = [0, 0] (no features)
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]] + [[1.0, 0.0]] * 4)
LISTS = np.array([[0, 1, -1], [0, 2, 3]])


def test_intra_list_diversity_hand_computed():
    # list 1: cos(0, 1) = 0 -> 1; list 2: 1 - 1/sqrt(2), then 1 and 1 for the zero vector
    second = (1 - 1 / math.sqrt(2) + 1 + 1) / 3
    assert intra_list_diversity(LISTS, VECTORS) == pytest.approx((1 + second) / 2)
    assert intra_list_diversity(LISTS, sp.csr_matrix(VECTORS)) == pytest.approx((1 + second) / 2)
    single = np.array([[2, -1, -1], [0, 4, -1]])  # one-item lists do not count; 0 == 4
    assert intra_list_diversity(single, VECTORS) == pytest.approx(0.0)
    assert intra_list_diversity(np.array([[1, -1]]), VECTORS) == 0.0


def test_coverage_and_popularity_hand_computed():
    assert catalog_coverage(LISTS, 8) == pytest.approx(4 / 8)
    popularity = np.array([10, 2, 4, 0, 1, 1, 1, 1])
    # entries 0, 1, 0, 2, 3 -> (10 + 2 + 10 + 4 + 0) / 5
    assert mean_popularity(LISTS, popularity) == pytest.approx(5.2)
    assert mean_popularity(LISTS, popularity, normalise=True) == pytest.approx(0.52)
    out = diversity_metrics(LISTS, VECTORS, popularity)
    assert set(out) == {"ild@3", "coverage@3", "pop@3", "pop_norm@3"}
    assert out["coverage@3"] == pytest.approx(0.5) and out["pop@3"] == pytest.approx(5.2)
