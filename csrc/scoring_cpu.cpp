// CPU kernels of the CF engine: item-item similarity, batched scoring with fused top-k, fusion.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "rowops.h"
#include "scoring.h"

namespace convrec {
namespace {

int thread_count(int requested) { return requested > 0 ? requested : 1; }

// Per-entry values of user_items after the measure's centring or weighting (double precision).
std::vector<double> transformed_values(const CsrView& ui, const SimilarityParams& p) {
  const int32_t n_users = ui.n_rows, n_items = ui.n_cols;
  const int64_t nnz = ui.indptr[n_users];
  std::vector<double> v(ui.data, ui.data + nnz);
  if (p.measure == Measure::adjusted_cosine) {
    for (int32_t u = 0; u < n_users; ++u) {
      const int32_t lo = ui.indptr[u], hi = ui.indptr[u + 1];
      if (lo == hi) continue;
      double sum = 0.0;
      for (int32_t e = lo; e < hi; ++e) sum += v[e];
      const double mean = sum / (hi - lo);
      for (int32_t e = lo; e < hi; ++e) v[e] -= mean;
    }
  } else if (p.measure == Measure::pearson || p.measure == Measure::bm25) {
    std::vector<double> col_sum(n_items, 0.0);
    std::vector<int64_t> col_count(n_items, 0);
    for (int64_t e = 0; e < nnz; ++e) {
      col_sum[ui.indices[e]] += v[e];
      col_count[ui.indices[e]] += 1;
    }
    if (p.measure == Measure::pearson) {
      for (int64_t e = 0; e < nnz; ++e) {
        const int32_t i = ui.indices[e];
        v[e] -= col_sum[i] / col_count[i];
      }
    } else {
      double total = 0.0;
      for (int32_t i = 0; i < n_items; ++i) total += col_sum[i];
      const double avg_len = n_items > 0 ? total / n_items : 0.0;
      const double k1 = p.bm25_k1, b = p.bm25_b;
      for (int32_t u = 0; u < n_users; ++u) {
        const int32_t lo = ui.indptr[u], hi = ui.indptr[u + 1];
        const double df = hi - lo;
        const double idf = std::log(1.0 + (n_items - df + 0.5) / (df + 0.5));
        for (int32_t e = lo; e < hi; ++e) {
          const double rel_len = avg_len > 0.0 ? col_sum[ui.indices[e]] / avg_len : 1.0;
          const double r = v[e];
          v[e] = r * (k1 + 1.0) / (r + k1 * ((1.0 - b) + b * rel_len)) * idf;
        }
      }
    }
  }
  return v;
}

}  // namespace

int64_t item_similarity_topk_cpu(const CsrView& ui, const SimilarityParams& p, int num_threads,
                                 int32_t* out_indptr, int32_t* out_indices, float* out_data) {
  const int32_t n_users = ui.n_rows, n_items = ui.n_cols;
  const int64_t nnz = ui.indptr[n_users];
  const int32_t K = p.n_neighbours;
  const std::vector<double> v = transformed_values(ui, p);

  // Transpose to item_users (users ascending within each item) and take the item norms.
  std::vector<int64_t> iu_ptr(static_cast<size_t>(n_items) + 1, 0);
  for (int64_t e = 0; e < nnz; ++e) iu_ptr[ui.indices[e] + 1] += 1;
  for (int32_t i = 0; i < n_items; ++i) iu_ptr[i + 1] += iu_ptr[i];
  std::vector<int32_t> iu_user(nnz);
  std::vector<double> iu_val(nnz);
  {
    std::vector<int64_t> fill(iu_ptr.begin(), iu_ptr.end() - 1);
    for (int32_t u = 0; u < n_users; ++u) {
      for (int32_t e = ui.indptr[u]; e < ui.indptr[u + 1]; ++e) {
        const int64_t slot = fill[ui.indices[e]]++;
        iu_user[slot] = u;
        iu_val[slot] = v[e];
      }
    }
  }
  std::vector<double> norm(n_items, 0.0);
  for (int32_t i = 0; i < n_items; ++i) {
    double sq = 0.0;
    for (int64_t q = iu_ptr[i]; q < iu_ptr[i + 1]; ++q) sq += iu_val[q] * iu_val[q];
    norm[i] = std::sqrt(sq);
  }

#pragma omp parallel num_threads(thread_count(num_threads))
  {
    std::vector<double> acc(n_items, 0.0);
    std::vector<int32_t> common(n_items, 0);
    std::vector<int32_t> touched;
    std::vector<std::pair<float, int32_t>> cand;
#pragma omp for schedule(dynamic, 16)
    for (int32_t i = 0; i < n_items; ++i) {
      // Sparse accumulation of <v_i, v_j> over the users of item i, users ascending.
      for (int64_t q = iu_ptr[i]; q < iu_ptr[i + 1]; ++q) {
        const int32_t u = iu_user[q];
        const double vi = iu_val[q];
        for (int32_t e = ui.indptr[u]; e < ui.indptr[u + 1]; ++e) {
          const int32_t j = ui.indices[e];
          if (common[j] == 0) touched.push_back(j);
          common[j] += 1;
          acc[j] += vi * v[e];
        }
      }
      cand.clear();
      for (const int32_t j : touched) {
        const double denom = norm[i] * norm[j];
        if (j != i && denom > 0.0) {
          double sim = acc[j] / denom;
          const double n = common[j];
          sim *= n / (n + p.shrink);
          const float s = static_cast<float>(sim);
          if (s > 0.0f) cand.emplace_back(s, j);
        }
        acc[j] = 0.0;
        common[j] = 0;
      }
      touched.clear();
      const auto before = [](const std::pair<float, int32_t>& a,
                             const std::pair<float, int32_t>& b) {
        return ranks_before(a.first, a.second, b.first, b.second);
      };
      const size_t keep = std::min(cand.size(), static_cast<size_t>(K));
      std::partial_sort(cand.begin(), cand.begin() + keep, cand.end(), before);
      std::sort(cand.begin(), cand.begin() + keep,
                [](const auto& a, const auto& b) { return a.second < b.second; });
      int32_t* slot_ids = out_indices + static_cast<int64_t>(i) * K;
      float* slot_vals = out_data + static_cast<int64_t>(i) * K;
      for (size_t t = 0; t < keep; ++t) {
        slot_ids[t] = cand[t].second;
        slot_vals[t] = cand[t].first;
      }
      out_indptr[i + 1] = static_cast<int32_t>(keep);
    }
  }
  // Compact the per-item slots into CSR order.
  out_indptr[0] = 0;
  int64_t offset = 0;
  for (int32_t i = 0; i < n_items; ++i) {
    const int32_t count = out_indptr[i + 1];
    const int64_t slot = static_cast<int64_t>(i) * K;
    if (offset != slot) {
      std::memmove(out_indices + offset, out_indices + slot, count * sizeof(int32_t));
      std::memmove(out_data + offset, out_data + slot, count * sizeof(float));
    }
    offset += count;
    out_indptr[i + 1] = static_cast<int32_t>(offset);
  }
  return offset;
}

namespace {

// A thread's dense scratch for one history row at a time: float32 scores and a bitmap of the
// items reached, both all zero between rows. The bitmap (n_items / 8 bytes) stays in L1, so the
// hot loop makes one random L2 access per neighbour edge (the score), and reached items are found
// afterwards by scanning the bitmap, in ascending item order, instead of keeping a list.
struct Scratch {
  std::vector<float> score;
  std::vector<uint64_t> reached;
  explicit Scratch(int32_t n_items)
      : score(static_cast<size_t>(n_items), 0.0f),
        reached((static_cast<size_t>(n_items) + 63) / 64, 0) {}
};

// Fetches the cache lines of neighbour row h (indices and values) ahead of use.
inline void prefetch_row(const CsrView& nbr, int32_t h) {
  const int32_t lo = nbr.indptr[h], hi = nbr.indptr[h + 1];
  for (int32_t q = lo; q < hi; q += 16) {
    __builtin_prefetch(nbr.indices + q);
    __builtin_prefetch(nbr.data + q);
  }
}

// Accumulates score(i) += w(h) * sim(h, i) over history row b, in history order (the oracle's
// float32 operations exactly), and sets the reached bits.
inline void accumulate_row(const CsrView& hist, const CsrView& nbr, int32_t b, Scratch& s) {
  const int32_t lo = hist.indptr[b], hi = hist.indptr[b + 1];
  const int32_t* idx = nbr.indices;
  const float* val = nbr.data;
  float* score = s.score.data();
  uint64_t* reached = s.reached.data();
  constexpr int32_t kAhead = 4;  // neighbour rows fetched ahead
  for (int32_t e = lo; e < std::min(hi, lo + kAhead); ++e) prefetch_row(nbr, hist.indices[e]);
  for (int32_t e = lo; e < hi; ++e) {
    if (e + kAhead < hi) prefetch_row(nbr, hist.indices[e + kAhead]);
    const int32_t h = hist.indices[e];
    const float w = hist.data[e];
    const int32_t q_end = nbr.indptr[h + 1];
    for (int32_t q = nbr.indptr[h]; q < q_end; ++q) {
      const int32_t i = idx[q];
      reached[i >> 6] |= uint64_t{1} << (i & 63);
      score[i] += w * val[q];
    }
  }
}

}  // namespace

void score_topk_cpu(const CsrView& hist, const CsrView& nbr, bool exclude_seen, int num_threads,
                    const TopKOut& out) {
  const int32_t n_items = nbr.n_rows, k = out.k, E = out.n_evidence;
  const int32_t n_rows = hist.n_rows;
  const int32_t n_words = (n_items + 63) / 64;
  const int threads = thread_count(num_threads);
  // Rows are handed out dynamically in chunks: histories are skewed (log-normal activity), so
  // static blocks would leave one thread with the heavy users.
  const int32_t chunk = std::max<int32_t>(1, std::min<int32_t>(32, n_rows / (64 * threads)));
#pragma omp parallel num_threads(threads)
  {
    Scratch s(n_items);
    float* score = s.score.data();
    uint64_t* reached = s.reached.data();
#pragma omp for schedule(dynamic, chunk) nowait
    for (int32_t b = 0; b < n_rows; ++b) {
      accumulate_row(hist, nbr, b, s);
      if (exclude_seen) {
        // History items leave the candidates (their scores are reset here, as they will not be
        // visited by the scan below).
        for (int32_t e = hist.indptr[b]; e < hist.indptr[b + 1]; ++e) {
          const int32_t h = hist.indices[e];
          reached[h >> 6] &= ~(uint64_t{1} << (h & 63));
          score[h] = 0.0f;
        }
      }
      int32_t* ids = out.ids + static_cast<int64_t>(b) * k;
      float* scores = out.scores + static_cast<int64_t>(b) * k;
      int32_t count = 0;
      // Reached items in ascending order; each score is read once and reset.
      for (int32_t j = 0; j < n_words; ++j) {
        uint64_t bits = reached[j];
        if (bits == 0) continue;
        reached[j] = 0;
        do {
          const int32_t i = j * 64 + __builtin_ctzll(bits);
          bits &= bits - 1;
          const float v = score[i];
          score[i] = 0.0f;
          if (count == k && !ranks_before(v, i, scores[k - 1], ids[k - 1])) continue;
          topk_insert(ids, scores, k, &count, i, v);
        } while (bits != 0);
      }
      topk_pad(ids, scores, k, count, -INFINITY);
      for (int32_t j = 0; j < k && E > 0; ++j) {
        const int64_t at = (static_cast<int64_t>(b) * k + j) * E;
        collect_evidence(hist, nbr, b, ids[j], E, out.evidence + at, out.evidence_weight + at);
      }
    }
  }
}

void fuse_topk_cpu(const int32_t* candidates, const float* sources, const float* weights,
                   int32_t n_sources, int32_t n_users, int32_t n_candidates,
                   const FusionParams& params, int num_threads, int32_t* out_ids,
                   float* out_scores) {
#pragma omp parallel num_threads(thread_count(num_threads))
  {
    std::vector<double> acc(n_candidates), wsum(n_candidates);
#pragma omp for schedule(static)
    for (int32_t b = 0; b < n_users; ++b) {
      fuse_row(candidates + static_cast<int64_t>(b) * n_candidates, sources, weights, n_sources,
               n_users, n_candidates, b, params, acc.data(), wsum.data(),
               out_ids + static_cast<int64_t>(b) * params.k,
               out_scores + static_cast<int64_t>(b) * params.k);
    }
  }
}

}  // namespace convrec

#ifndef CONVREC_WITH_CUDA
namespace convrec {

void score_topk_cuda(const CsrView&, const CsrView&, bool, const TopKOut&) {
  throw std::runtime_error("convrec._native was built without CUDA");
}

void fuse_topk_cuda(const int32_t*, const float*, const float*, int32_t, int32_t, int32_t,
                    const FusionParams&, int32_t*, float*) {
  throw std::runtime_error("convrec._native was built without CUDA");
}

}  // namespace convrec
#endif
