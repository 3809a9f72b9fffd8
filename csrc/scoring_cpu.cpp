// CPU kernels of the CF engine: batched scoring with fused top-k, fusion (similarity:
// similarity_cpu.cpp).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "rowops.h"
#include "scoring.h"

namespace convrec {
namespace {

int thread_count(int requested) { return requested > 0 ? requested : 1; }

// How a row finds the items it reached (the top-k is taken over those alone):
//   bitmap    a bit per item, set on every edge, scanned in position order. Small catalogues
//             scored without a layout: one OR per edge, no list.
//   positive  every contribution w * sim > 0 in float32, so a reached score is > 0 and a
//             score still 0 marks a first touch. The first kDenseHead positions (the most
//             popular items in a popularity layout: their scores stay in L1, and most edges
//             land there) are only summed and then scanned whole; past them the positions
//             are listed in `touched` in order of first touch. Rows in a layout, and rows
//             of large catalogues.
//   stamped   as positive, for other rows: `stamp` holds the generation (row counter) that
//             last reached each position.
// The tie rule makes the visiting order irrelevant to the result.
enum class Mode { bitmap, positive, stamped };

// Positions [0, kDenseHead) of the positive mode: summed without a record, then scanned whole.
// On the 10M-interaction benchmark three quarters of all edges land in the first 64 positions of
// the popularity layout; 256 measured best there (benchmarks/README.md).
constexpr int32_t kDenseHead = 256;

// A thread's scratch for one history row at a time; `score` and `reached` are all zero
// between rows.
struct Scratch {
  std::vector<float> score;
  std::vector<uint64_t> reached;  // bitmap mode
  std::vector<int32_t> touched;   // list modes: n_items + 1 slots
  std::vector<uint16_t> stamp;    // stamped mode, allocated on the first row that needs it
  uint16_t generation = 0;
  std::vector<int32_t> rows;  // the current history row in layout positions
  Scratch(int32_t n_items, bool bitmap) : score(static_cast<size_t>(n_items), 0.0f) {
    if (bitmap) {
      reached.assign((static_cast<size_t>(n_items) + 63) / 64, 0);
    } else {
      touched.resize(static_cast<size_t>(n_items) + 1);
    }
  }
};

inline int32_t position(const int32_t* pos_of, int32_t item) {
  return pos_of == nullptr ? item : pos_of[item];
}

// True when every contribution w(h) * sim(h, i) of row b is > 0 in float32: float rounding is
// monotone, so each product is >= min(w) * min(sim), and a sum of positive terms stays > 0.
inline bool contributions_positive(const CsrView& hist, int32_t b, float min_sim) {
  if (!(min_sim > 0.0f)) return false;
  float lo = INFINITY;
  for (int32_t e = hist.indptr[b]; e < hist.indptr[b + 1]; ++e) lo = std::min(lo, hist.data[e]);
  return lo * min_sim > 0.0f;
}

// Fetches the cache lines of neighbour row h (indices and values) ahead of use.
inline void prefetch_row(const CsrView& nbr, int32_t h) {
  const int32_t lo = nbr.indptr[h], hi = nbr.indptr[h + 1];
  for (int32_t q = lo; q < hi; q += 16) {
    __builtin_prefetch(nbr.indices + q);
    __builtin_prefetch(nbr.data + q);
  }
}

// First entry of neighbour row h at a position >= kDenseHead (rows are sorted by position).
inline int32_t head_end(const CsrView& nbr, int32_t h) {
  return static_cast<int32_t>(std::lower_bound(nbr.indices + nbr.indptr[h],
                                               nbr.indices + nbr.indptr[h + 1], kDenseHead) -
                              nbr.indices);
}

// Scores history row b into s.score (positions of the layout): score(i) += w(h) * sim(h, i) in
// history order (the oracle's float32 operations exactly), and records the reached positions
// (see Mode). Returns their number in the list modes. Neighbour rows are prefetched kAhead
// history entries ahead, their indptr entries 2 * kAhead ahead. `split` (positive mode; null:
// each row is searched) holds head_end of every neighbour row.
template <Mode M>
int32_t accumulate_row(const CsrView& hist, const CsrView& nbr, const int32_t* pos_of,
                       const int32_t* split, int32_t b, Scratch& s) {
  constexpr int32_t kAhead = 8;
  const int32_t lo = hist.indptr[b], len = hist.indptr[b + 1] - lo;
  const int32_t* rows = hist.indices + lo;
  if (pos_of != nullptr) {  // map the row to positions first: independent loads, no stalls below
    s.rows.resize(static_cast<size_t>(len));
    for (int32_t e = 0; e < len; ++e) s.rows[e] = pos_of[rows[e]];
    rows = s.rows.data();
  }
  const float* weights = hist.data + lo;
  const int32_t* idx = nbr.indices;
  const float* val = nbr.data;
  float* score = s.score.data();
  uint64_t* reached = s.reached.data();
  int32_t* touched = s.touched.data();
  uint16_t* stamp = s.stamp.data();
  const uint16_t gen = s.generation;
  int32_t n = 0;
  for (int32_t e = 0; e < std::min(len, kAhead); ++e) prefetch_row(nbr, rows[e]);
  for (int32_t e = 0; e < len; ++e) {
    if (e + 2 * kAhead < len) __builtin_prefetch(nbr.indptr + rows[e + 2 * kAhead]);
    if (e + kAhead < len) prefetch_row(nbr, rows[e + kAhead]);
    const int32_t h = rows[e];
    const float w = weights[e];
    int32_t q = nbr.indptr[h];
    const int32_t q_end = nbr.indptr[h + 1];
    if constexpr (M == Mode::positive) {  // the dense head: summed, nothing recorded
      const int32_t q_head = split != nullptr ? split[h] : head_end(nbr, h);
      for (; q < q_head; ++q) score[idx[q]] += w * val[q];
    }
    for (; q < q_end; ++q) {
      const int32_t i = idx[q];
      if constexpr (M == Mode::bitmap) {
        reached[i >> 6] |= uint64_t{1} << (i & 63);
        score[i] += w * val[q];
      } else if constexpr (M == Mode::positive) {
        // The slot is written on every edge and kept (n advanced) on a first touch only:
        // no branch in the hot loop.
        touched[n] = i;
        const float old = score[i];
        score[i] = old + w * val[q];
        n += old == 0.0f;
      } else {
        touched[n] = i;
        score[i] += w * val[q];
        n += stamp[i] != gen;
        stamp[i] = gen;
      }
    }
  }
  return n;
}

// Offers reached position i with score v to the top k (ids in item ids, via the layout).
inline void offer(const Layout& layout, int32_t i, float v, int32_t k, int32_t* count,
                  int32_t* ids, float* scores) {
  if (*count == k && v < scores[k - 1]) return;  // most items: no id needed to tell
  const int32_t id = layout.id_of == nullptr ? i : layout.id_of[i];
  if (*count == k && !ranks_before(v, id, scores[k - 1], ids[k - 1])) return;
  topk_insert(ids, scores, k, count, id, v);
}

// Top k of row b over its reached positions (history items dropped when exclude_seen), by
// (score desc, item id asc); resets the scratch for the next row.
template <Mode M>
void select_row(const CsrView& hist, const Layout& layout, int32_t b, int32_t n,
                bool exclude_seen, Scratch& s, int32_t k, int32_t* ids, float* scores) {
  float* score = s.score.data();
  uint64_t* reached = s.reached.data();
  uint16_t* stamp = s.stamp.data();
  const uint16_t gen = s.generation;
  if (exclude_seen) {  // a seen position reads as not reached
    for (int32_t e = hist.indptr[b]; e < hist.indptr[b + 1]; ++e) {
      const int32_t h = position(layout.pos_of, hist.indices[e]);
      if constexpr (M == Mode::bitmap) {
        reached[h >> 6] &= ~(uint64_t{1} << (h & 63));
        score[h] = 0.0f;
      } else if constexpr (M == Mode::positive) {
        score[h] = 0.0f;
      } else {
        stamp[h] = static_cast<uint16_t>(gen - 1);
      }
    }
  }
  int32_t count = 0;
  if constexpr (M == Mode::positive) {  // the dense head, every position: v > 0 when reached
    const int32_t head = std::min<int32_t>(kDenseHead, static_cast<int32_t>(s.score.size()));
    float bar = FLT_TRUE_MIN;  // offer when v >= bar: reached (> 0), and >= the k-th once full
    for (int32_t i = 0; i < head; ++i) {
      const float v = score[i];
      score[i] = 0.0f;
      if (v >= bar) {
        offer(layout, i, v, k, &count, ids, scores);
        if (count == k) bar = std::max(scores[k - 1], FLT_TRUE_MIN);
      }
    }
  }
  if constexpr (M == Mode::bitmap) {
    const int32_t n_words = static_cast<int32_t>(s.reached.size());
    for (int32_t j = 0; j < n_words; ++j) {
      uint64_t bits = reached[j];
      if (bits == 0) continue;
      reached[j] = 0;
      do {
        const int32_t i = j * 64 + __builtin_ctzll(bits);
        bits &= bits - 1;
        const float v = score[i];
        score[i] = 0.0f;
        offer(layout, i, v, k, &count, ids, scores);
      } while (bits != 0);
    }
  } else {
    for (int32_t t = 0; t < n; ++t) {
      const int32_t i = s.touched[t];
      const float v = score[i];
      score[i] = 0.0f;
      if constexpr (M == Mode::positive) {
        if (v == 0.0f) continue;
      } else {
        if (stamp[i] != gen) continue;
      }
      offer(layout, i, v, k, &count, ids, scores);
    }
  }
  topk_pad(ids, scores, k, count, -INFINITY);
}

template <Mode M>
void score_row(const CsrView& hist, const CsrView& nbr, const Layout& layout,
               const int32_t* split, int32_t b, bool exclude_seen, Scratch& s, int32_t k,
               int32_t* ids, float* scores) {
  const int32_t n = accumulate_row<M>(hist, nbr, layout.pos_of, split, b, s);
  select_row<M>(hist, layout, b, n, exclude_seen, s, k, ids, scores);
}

}  // namespace

void score_topk_cpu(const CsrView& hist, const CsrView& nbr, const Layout& layout,
                    bool exclude_seen, int num_threads, const TopKOut& out, ReachScan scan) {
  const int32_t n_items = nbr.n_rows, k = out.k, E = out.n_evidence;
  const int32_t n_rows = hist.n_rows;
  const int threads = thread_count(num_threads);
  const bool bitmap =
      scan == ReachScan::bitmap || (scan == ReachScan::automatic && layout.id_of == nullptr &&
                                    n_items <= kBitmapMaxItems);
  float min_sim = INFINITY;
  if (!bitmap) {
    const int64_t nbr_nnz = nbr.indptr[nbr.n_rows];
    for (int64_t q = 0; q < nbr_nnz; ++q) min_sim = std::min(min_sim, nbr.data[q]);
  }
  // The dense head's end in every neighbour row, once per call when the batch has more history
  // entries than there are rows to search (else each history entry searches its row).
  std::vector<int32_t> split;
  if (!bitmap && min_sim > 0.0f && hist.indptr[n_rows] >= n_items) {
    split.resize(static_cast<size_t>(n_items));
    for (int32_t h = 0; h < n_items; ++h) split[h] = head_end(nbr, h);
  }
  const int32_t* split_of = split.empty() ? nullptr : split.data();
  // Rows are handed out dynamically in chunks: histories are skewed (log-normal activity), so
  // static blocks would leave one thread with the heavy users.
  const int32_t chunk = std::max<int32_t>(1, std::min<int32_t>(32, n_rows / (64 * threads)));
#pragma omp parallel num_threads(threads)
  {
    Scratch s(n_items, bitmap);
#pragma omp for schedule(dynamic, chunk) nowait
    for (int32_t b = 0; b < n_rows; ++b) {
      int32_t* ids = out.ids + static_cast<int64_t>(b) * k;
      float* scores = out.scores + static_cast<int64_t>(b) * k;
      if (bitmap) {
        score_row<Mode::bitmap>(hist, nbr, layout, nullptr, b, exclude_seen, s, k, ids, scores);
      } else if (contributions_positive(hist, b, min_sim)) {
        score_row<Mode::positive>(hist, nbr, layout, split_of, b, exclude_seen, s, k, ids, scores);
      } else {
        if (s.stamp.empty()) s.stamp.assign(static_cast<size_t>(n_items), 0);
        if (++s.generation == 0) {  // wrapped: forget every old stamp
          std::fill(s.stamp.begin(), s.stamp.end(), 0);
          s.generation = 1;
        }
        score_row<Mode::stamped>(hist, nbr, layout, nullptr, b, exclude_seen, s, k, ids, scores);
      }
      for (int32_t j = 0; j < k && E > 0; ++j) {
        const int64_t at = (static_cast<int64_t>(b) * k + j) * E;
        collect_evidence(hist, nbr, layout.pos_of, b, ids[j], E, out.evidence + at,
                         out.evidence_weight + at);
      }
    }
  }
}

void fuse_topk_cpu(const int32_t* candidates, const float* sources, const float* weights,
                   int32_t n_sources, int32_t n_users, int32_t n_candidates,
                   const FusionParams& params, int num_threads, int32_t* out_ids,
                   float* out_scores, float* out_shares) {
#pragma omp parallel num_threads(thread_count(num_threads))
  {
    std::vector<double> acc(n_candidates), wsum(n_candidates);
#pragma omp for schedule(static)
    for (int32_t b = 0; b < n_users; ++b) {
      fuse_row(candidates + static_cast<int64_t>(b) * n_candidates, sources, weights, n_sources,
               n_users, n_candidates, b, params, acc.data(), wsum.data(),
               out_ids + static_cast<int64_t>(b) * params.k,
               out_scores + static_cast<int64_t>(b) * params.k, out_shares);
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
                    const FusionParams&, int32_t*, float*, float*) {
  throw std::runtime_error("convrec._native was built without CUDA");
}

}  // namespace convrec
#endif
