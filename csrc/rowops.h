// Per-row building blocks shared verbatim by the CPU and CUDA kernels (tie rule, bounded top-k
// insertion, evidence, fusion of one user), so both paths produce bit-identical results.
#pragma once

#include <cmath>
#include <cstdint>

#include "scoring.h"

#ifdef __CUDACC__
#define CONVREC_HD __host__ __device__ inline
#else
#define CONVREC_HD inline
#endif

namespace convrec {

// The one ranking order: higher score first, then the lower item index.
CONVREC_HD bool ranks_before(float score_a, int32_t id_a, float score_b, int32_t id_b) {
  return score_a > score_b || (score_a == score_b && id_a < id_b);
}

// Inserts (id, score) into ids/scores[0, *count) kept sorted by ranks_before, capacity k.
CONVREC_HD void topk_insert(int32_t* ids, float* scores, int32_t k, int32_t* count, int32_t id,
                            float score) {
  int32_t pos = *count;
  if (pos == k) {
    if (!ranks_before(score, id, scores[k - 1], ids[k - 1])) return;
    pos = k - 1;
  } else {
    ++*count;
  }
  while (pos > 0 && ranks_before(score, id, scores[pos - 1], ids[pos - 1])) {
    ids[pos] = ids[pos - 1];
    scores[pos] = scores[pos - 1];
    --pos;
  }
  ids[pos] = id;
  scores[pos] = score;
}

// Fills the padding of a top-k row from `count` on.
CONVREC_HD void topk_pad(int32_t* ids, float* scores, int32_t k, int32_t count, float pad_score) {
  for (int32_t j = count; j < k; ++j) {
    ids[j] = -1;
    scores[j] = pad_score;
  }
}

// Value of row `row` at column `col` in a CSR with sorted unique indices; false when absent.
CONVREC_HD bool csr_lookup(const CsrView& m, int32_t row, int32_t col, float* value) {
  int32_t lo = m.indptr[row], hi = m.indptr[row + 1];
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    const int32_t c = m.indices[mid];
    if (c == col) {
      *value = m.data[mid];
      return true;
    }
    if (c < col) lo = mid + 1; else hi = mid;
  }
  return false;
}

// Evidence for item `item` of user row `b`: the n_evidence history items with the largest
// contribution weight(h) * sim(h, item), ties to the lower item id; padded -1 / 0. `pos_of`
// maps item ids to the rows / columns of `neighbours` (null: the identity).
CONVREC_HD void collect_evidence(const CsrView& histories, const CsrView& neighbours,
                                 const int32_t* pos_of, int32_t b, int32_t item,
                                 int32_t n_evidence, int32_t* ev_ids, float* ev_weights) {
  int32_t count = 0;
  if (item >= 0) {
    const int32_t col = pos_of == nullptr ? item : pos_of[item];
    for (int32_t e = histories.indptr[b]; e < histories.indptr[b + 1]; ++e) {
      const int32_t h = histories.indices[e];
      float sim;
      if (csr_lookup(neighbours, pos_of == nullptr ? h : pos_of[h], col, &sim)) {
        topk_insert(ev_ids, ev_weights, n_evidence, &count, h, histories.data[e] * sim);
      }
    }
  }
  topk_pad(ev_ids, ev_weights, n_evidence, count, 0.0f);
}

// Fuses one user's row. cand int32[C]; sources float32[S, B, C] addressed as
// sources[(s * n_users + b) * C + c]; acc / wsum are double[C] scratch. Writes ids/scores[k],
// and when shares is not null each source's share of the fused score of every candidate into
// shares float32[S, B, C] (same addressing; NaN where the source has no score): for weighted,
// w_s z_s / sum_t w_t over the sources t present; for rrf, w_s / (rrf_k + rank_s).
CONVREC_HD void fuse_row(const int32_t* cand, const float* sources, const float* weights,
                         int32_t n_sources, int32_t n_users, int32_t n_candidates, int32_t b,
                         const FusionParams& p, double* acc, double* wsum, int32_t* ids,
                         float* scores, float* shares) {
  const int32_t C = n_candidates;
  for (int32_t c = 0; c < C; ++c) {
    acc[c] = 0.0;
    wsum[c] = -1.0;  // < 0: no source present yet
  }
  for (int32_t s = 0; s < n_sources; ++s) {
    const float* x = sources + (static_cast<int64_t>(s) * n_users + b) * C;
    float* share = shares ? shares + (static_cast<int64_t>(s) * n_users + b) * C : nullptr;
    if (share) {
      for (int32_t c = 0; c < C; ++c) share[c] = NAN;
    }
    const double w = weights[s];
    // Statistics over the valid entries of this source.
    int32_t n = 0;
    double sum = 0.0, lo = 0.0, hi = 0.0;
    for (int32_t c = 0; c < C; ++c) {
      if (cand[c] < 0 || x[c] != x[c]) continue;
      const double v = x[c];
      if (n == 0 || v < lo) lo = v;
      if (n == 0 || v > hi) hi = v;
      sum += v;
      ++n;
    }
    if (n == 0) continue;
    const double mean = sum / n;
    double var = 0.0;
    if (p.normalisation == Normalisation::zscore) {
      for (int32_t c = 0; c < C; ++c) {
        if (cand[c] < 0 || x[c] != x[c]) continue;
        const double d = x[c] - mean;
        var += d * d;
      }
      var /= n;
    }
    const double sd = sqrt(var);
    for (int32_t c = 0; c < C; ++c) {
      if (cand[c] < 0 || x[c] != x[c]) continue;
      double term;
      if (p.method == FusionMethod::rrf) {
        int32_t rank = 1;
        for (int32_t o = 0; o < C; ++o) {
          if (o == c || cand[o] < 0 || x[o] != x[o]) continue;
          if (ranks_before(x[o], cand[o], x[c], cand[c])) ++rank;
        }
        term = w / (p.rrf_k + rank);
      } else if (p.normalisation == Normalisation::zscore) {
        term = sd > 0.0 ? w * ((x[c] - mean) / sd) : 0.0;
      } else if (p.normalisation == Normalisation::minmax) {
        term = hi > lo ? w * ((x[c] - lo) / (hi - lo)) : 0.0;
      } else {
        term = w * static_cast<double>(x[c]);
      }
      acc[c] += term;
      wsum[c] = (wsum[c] < 0.0 ? 0.0 : wsum[c]) + w;
      if (share) share[c] = static_cast<float>(term);
    }
  }
  if (shares && p.method == FusionMethod::weighted) {  // terms -> shares of the weighted mean
    for (int32_t s = 0; s < n_sources; ++s) {
      float* share = shares + (static_cast<int64_t>(s) * n_users + b) * C;
      for (int32_t c = 0; c < C; ++c) {
        if (share[c] == share[c] && wsum[c] > 0.0) {
          share[c] = static_cast<float>(share[c] / wsum[c]);
        }
      }
    }
  }
  int32_t count = 0;
  for (int32_t c = 0; c < C; ++c) {
    if (wsum[c] < 0.0) continue;
    double v = acc[c];
    if (p.method == FusionMethod::weighted) v = wsum[c] > 0.0 ? acc[c] / wsum[c] : 0.0;
    topk_insert(ids, scores, p.k, &count, cand[c], static_cast<float>(v));
  }
  topk_pad(ids, scores, p.k, count, -INFINITY);
}

}  // namespace convrec
