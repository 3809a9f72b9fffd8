"""MMR re-ranking on hand-computed cases."""

import numpy as np
import pytest
import scipy.sparse as sp

from convrec.recommender import mmr_rerank

# items 10 and 11 are twins (similarity 1), 12 is unlike both
SIM = sp.csr_matrix(([1.0, 1.0], ([10, 11], [11, 10])), shape=(13, 13))
CAND = np.array([[10, 11, 12]], np.int32)
REL = np.array([[1.0, 0.9, 0.0]])


def test_zero_diversity_keeps_the_relevance_order():
    assert mmr_rerank(CAND, REL, SIM, k=3, diversity=0.0).tolist() == [[10, 11, 12]]
    shuffled = np.array([[12, 10, 11]], np.int32)
    rel = np.array([[0.0, 1.0, 0.9]])
    assert mmr_rerank(shuffled, rel, SIM, k=2, diversity=0.0).tolist() == [[10, 11]]


def test_hand_computed_trade_off():
    # relevance scaled to [1, 0.9, 0]; after 10: gain(11) = (1-d) 0.9 - d 1, gain(12) = (1-d) 0
    # d = 0.5: -0.05 vs 0 -> 12 first; d = 0.04: 0.824 vs 0 -> 11 first
    assert mmr_rerank(CAND, REL, SIM, k=3, diversity=0.5).tolist() == [[10, 12, 11]]
    assert mmr_rerank(CAND, REL, SIM, k=3, diversity=0.04).tolist() == [[10, 11, 12]]
    # d = 1 ignores relevance after the first pick: the least similar item follows
    assert mmr_rerank(CAND, REL, SIM, k=2, diversity=1.0).tolist() == [[10, 12]]


def test_padding_missing_scores_and_dense_similarity():
    cand = np.array([[10, -1, 11, 12], [-1, -1, -1, -1]], np.int32)
    rel = np.array([[1.0, 5.0, np.nan, 0.5], [0.0, 0.0, 0.0, 0.0]])
    out = mmr_rerank(cand, rel, SIM.toarray(), k=4, diversity=0.5)
    assert out.tolist() == [[10, 12, -1, -1], [-1, -1, -1, -1]]
    with pytest.raises(ValueError, match="diversity"):
        mmr_rerank(CAND, REL, SIM, k=2, diversity=1.5)
    with pytest.raises(ValueError, match="k must be"):
        mmr_rerank(CAND, REL, SIM, k=0, diversity=0.5)
