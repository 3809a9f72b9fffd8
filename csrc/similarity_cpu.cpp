// CPU item-item similarity with per-item top-K (item_similarity_topk_cpu, see scoring.h).
//
// A pair's similarity is the one the plain kernel gives: for item i, sum v(u, i) * v(u, j) in
// double over the users u of i in ascending order, divide by norm(i) * norm(j), shrink, round
// to float32, keep the K best (ties to the lower id). What makes it fast, none of which changes
// a result:
//   - Each pair is summed once, from its more popular item, and offered to both items' top K:
//     the sum runs over the same common users in the same order either way and multiplication
//     commutes, so both sides get the bits the plain kernel computes for them. Half the updates.
//   - Items are renumbered by falling popularity (positions) and user rows stored in positions,
//     sorted: the hot part of the accumulator is a small cache-resident prefix, and the pairs
//     of item q are the entries after q in its users' rows. The first kHeadMax positions (the
//     dense head) are summed with no record of which were reached and then scanned; only the
//     tail marks its reached positions in a bitmap.
//   - Values are read at the narrowest exact width: none when every value is 1 (int32 counts,
//     equal to the double sums), float32 when every value is a float32 (the same products),
//     double otherwise. Co-rating counts are kept only when shrink > 0 and values are not all 1.
//   - A candidate pays a division only when a multiply-only bound says it could enter one of
//     the two top Ks (about 1 in 35 on the 10M benchmark).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

#include "rowops.h"
#include "scoring.h"

namespace convrec {
namespace {

int thread_count(int requested) { return requested > 0 ? requested : 1; }

// The widest dense head: positions [0, head) are scanned whole for every item.
constexpr int32_t kHeadMax = 2048;

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

// How the values are stored for the inner loop (see the file comment).
enum class Width { ones, single, full };

// user_items in the popularity layout, both ways round.
struct SimLayout {
  std::vector<int32_t> id_of;        // position -> item id
  std::vector<int64_t> col_ptr;      // position -> its users in col_user / col_val
  std::vector<int32_t> col_user;     // users ascending within each position
  std::vector<double> col_val;
  std::vector<double> norm;          // by position
  std::vector<double> inv_norm;      // 1 / norm, for the division-free bound
  std::vector<int32_t> row_pos;      // user rows (ui.indptr) in positions, ascending
  std::vector<double> row_full;      // Width::full values of row_pos
  std::vector<float> row_single;     // Width::single values of row_pos
  std::vector<int32_t> row_head;     // per user: first entry of its row at a position >= head
  std::vector<int32_t> col_entry;    // per column entry: its entry in row_pos
  int32_t head = 0;
  Width width = Width::full;
};

SimLayout build_layout(const CsrView& ui, const std::vector<double>& v) {
  const int32_t n_users = ui.n_rows, n_items = ui.n_cols;
  const int64_t nnz = ui.indptr[n_users];
  SimLayout L;
  std::vector<int64_t> count(n_items, 0);
  for (int64_t e = 0; e < nnz; ++e) count[ui.indices[e]] += 1;
  L.id_of.resize(n_items);
  std::iota(L.id_of.begin(), L.id_of.end(), 0);
  std::stable_sort(L.id_of.begin(), L.id_of.end(),
                   [&](int32_t a, int32_t b) { return count[a] > count[b]; });
  std::vector<int32_t> pos_of(n_items);
  for (int32_t q = 0; q < n_items; ++q) pos_of[L.id_of[q]] = q;

  // Columns (by position) with their users ascending, then the norms in that order.
  L.col_ptr.assign(static_cast<size_t>(n_items) + 1, 0);
  for (int32_t q = 0; q < n_items; ++q) L.col_ptr[q + 1] = L.col_ptr[q] + count[L.id_of[q]];
  L.col_user.resize(nnz);
  L.col_val.resize(nnz);
  {
    std::vector<int64_t> fill(L.col_ptr.begin(), L.col_ptr.end() - 1);
    for (int32_t u = 0; u < n_users; ++u) {
      for (int32_t e = ui.indptr[u]; e < ui.indptr[u + 1]; ++e) {
        const int64_t slot = fill[pos_of[ui.indices[e]]]++;
        L.col_user[slot] = u;
        L.col_val[slot] = v[e];
      }
    }
  }
  L.norm.assign(n_items, 0.0);
  for (int32_t q = 0; q < n_items; ++q) {
    double sq = 0.0;
    for (int64_t s = L.col_ptr[q]; s < L.col_ptr[q + 1]; ++s) sq += L.col_val[s] * L.col_val[s];
    L.norm[q] = std::sqrt(sq);
  }
  L.inv_norm.resize(n_items);
  for (int32_t q = 0; q < n_items; ++q) L.inv_norm[q] = 1.0 / L.norm[q];

  bool ones = true, single = true;
  for (int64_t e = 0; e < nnz && single; ++e) {
    ones = ones && v[e] == 1.0;
    single = static_cast<double>(static_cast<float>(v[e])) == v[e];
  }
  L.width = ones ? Width::ones : single ? Width::single : Width::full;

  // Rows in positions, ascending: the columns read back in position order.
  L.row_pos.resize(nnz);
  L.col_entry.resize(nnz);
  if (L.width == Width::full) L.row_full.resize(nnz);
  if (L.width == Width::single) L.row_single.resize(nnz);
  L.head = std::min(n_items, kHeadMax);
  L.row_head.assign(ui.indptr, ui.indptr + n_users);
  {
    std::vector<int64_t> fill(ui.indptr, ui.indptr + n_users);
    for (int32_t q = 0; q < n_items; ++q) {
      for (int64_t s = L.col_ptr[q]; s < L.col_ptr[q + 1]; ++s) {
        const int32_t u = L.col_user[s];
        const int64_t slot = fill[u]++;
        L.col_entry[s] = static_cast<int32_t>(slot);
        L.row_pos[slot] = q;
        if (L.width == Width::full) L.row_full[slot] = L.col_val[s];
        if (L.width == Width::single) L.row_single[slot] = static_cast<float>(L.col_val[s]);
      }
      if (q + 1 == L.head) {
        for (int32_t u = 0; u < n_users; ++u) L.row_head[u] = static_cast<int32_t>(fill[u]);
      }
    }
  }
  return L;
}

// The K best neighbours of every item, shared by the threads. The item at position q keeps its
// heap in its output slots (ids / vals [id * K, id * K + count[id]), id = id_of[q]), the worst
// on top, guarded by lock[q]; bar[q] is the lowest similarity that could still enter (0 until
// full: only > 0 is ever kept). Reading a stale bar only lets more through: offer() re-checks
// under the lock, and the K best of all offers do not depend on their order (the tie rule is a
// total order).
class SharedTopK {
 public:
  SharedTopK(const int32_t* id_of, int32_t n_items, int32_t k, int32_t* count, int32_t* ids,
             float* vals)
      : id_of_(id_of), k_(k), count_(count), ids_(ids), vals_(vals),
        lock_(new std::atomic<uint8_t>[static_cast<size_t>(n_items)]),
        bar_(new std::atomic<float>[static_cast<size_t>(n_items)]) {
    for (int32_t i = 0; i < n_items; ++i) {
      count_[i] = 0;
      lock_[i].store(0, std::memory_order_relaxed);
      bar_[i].store(0.0f, std::memory_order_relaxed);
    }
  }

  float bar(int32_t q) const { return bar_[q].load(std::memory_order_relaxed); }

  // Offers neighbour `id` with similarity s to the item at position q.
  void offer(int32_t q, float s, int32_t id) {
    while (lock_[q].exchange(1, std::memory_order_acquire) != 0) {
    }
    const int32_t item = id_of_[q];
    int32_t* ids = ids_ + static_cast<int64_t>(item) * k_;
    float* vals = vals_ + static_cast<int64_t>(item) * k_;
    const int32_t n = count_[item];
    if (n < k_) {
      ids[n] = id;
      vals[n] = s;
      sift_up(ids, vals, n);
      count_[item] = n + 1;
      if (n + 1 == k_) bar_[q].store(vals[0], std::memory_order_relaxed);
    } else if (ranks_before(s, id, vals[0], ids[0])) {
      ids[0] = id;
      vals[0] = s;
      sift_down(ids, vals, n);
      bar_[q].store(vals[0], std::memory_order_relaxed);
    }
    lock_[q].store(0, std::memory_order_release);
  }

 private:
  // Heap order: a parent never ranks before its children (the worst at the root).
  static void swap_at(int32_t* ids, float* vals, int32_t a, int32_t b) {
    std::swap(ids[a], ids[b]);
    std::swap(vals[a], vals[b]);
  }
  static void sift_up(int32_t* ids, float* vals, int32_t at) {
    while (at > 0) {
      const int32_t up = (at - 1) / 2;
      if (!ranks_before(vals[up], ids[up], vals[at], ids[at])) break;
      swap_at(ids, vals, up, at);
      at = up;
    }
  }
  static void sift_down(int32_t* ids, float* vals, int32_t n) {
    int32_t at = 0;
    for (;;) {
      int32_t worst = 2 * at + 1;
      if (worst >= n) break;
      if (worst + 1 < n && ranks_before(vals[worst], ids[worst], vals[worst + 1], ids[worst + 1]))
        ++worst;
      if (!ranks_before(vals[at], ids[at], vals[worst], ids[worst])) break;
      swap_at(ids, vals, at, worst);
      at = worst;
    }
  }

  const int32_t* id_of_;
  int32_t k_;
  int32_t* count_;
  int32_t* ids_;
  float* vals_;
  std::unique_ptr<std::atomic<uint8_t>[]> lock_;
  std::unique_ptr<std::atomic<float>[]> bar_;
};

// Per-thread scratch; acc (and common) are all zero between items.
template <typename Acc>
struct Scratch {
  std::vector<Acc> acc;
  std::vector<int32_t> common;  // only with shrink > 0 and non-unit values
  std::vector<uint64_t> reached;
};

// The pairs (qi, q > qi) of the item at position qi: sums over the users of qi (ascending) of
// v(u, qi) * v(u, q), each similarity then offered to both items' top K. A pair's sum, norms,
// division and rounding are those of the one-sided kernel (the same products in the same user
// order: multiplication commutes), so both sides see the similarity that kernel gives them.
template <Width W, bool kShrink, typename Acc>
void item_pairs(const CsrView& ui, const SimLayout& L, const SimilarityParams& p, int32_t qi,
                Scratch<Acc>& s, SharedTopK& top) {
  constexpr bool kCommon = kShrink && W != Width::ones;  // ones: the count is the sum
  Acc* acc = s.acc.data();
  int32_t* common = s.common.data();
  uint64_t* reached = s.reached.data();
  const int32_t* pos = L.row_pos.data();
  for (int64_t c = L.col_ptr[qi]; c < L.col_ptr[qi + 1]; ++c) {
    const int32_t u = L.col_user[c];
    const double vi = L.col_val[c];
    const int32_t lo = L.col_entry[c] + 1;  // the entries of row u past qi
    const int32_t mid = std::max(lo, L.row_head[u]), hi = ui.indptr[u + 1];
    const auto add = [&](int32_t e) {
      const int32_t q = pos[e];
      if constexpr (W == Width::ones) {
        acc[q] += 1;
      } else if constexpr (W == Width::single) {
        acc[q] += vi * static_cast<double>(L.row_single[e]);
      } else {
        acc[q] += vi * L.row_full[e];
      }
      if constexpr (kCommon) common[q] += 1;
      return q;
    };
    for (int32_t e = lo; e < mid; ++e) add(e);
    for (int32_t e = mid; e < hi; ++e) {
      const int32_t q = add(e);
      reached[q >> 6] |= uint64_t{1} << (q & 63);
    }
  }

  const double norm_i = L.norm[qi], inv_i = L.inv_norm[qi];
  const int32_t id_i = L.id_of[qi];
  float bar_i = top.bar(qi);
  // approx < min(bar) * (1 - 1e-6) implies a float32 similarity below both bars: approx's
  // relative error (a few double ulps) is far below the margin, and the shrink factor is <= 1.
  constexpr double kMargin = 1.0 - 1e-6;
  const auto consider = [&](int32_t q) {
    const double dot = static_cast<double>(acc[q]);
    acc[q] = 0;
    double n = dot;  // ones: the count
    if constexpr (kCommon) {
      n = common[q];
      common[q] = 0;
    }
    if (dot == 0.0) return;  // unreached, or a zero sum: similarity 0, never kept
    const float bar_q = top.bar(q);
    const double approx = dot * L.inv_norm[q] * inv_i;
    if (approx < static_cast<double>(std::min(bar_i, bar_q)) * kMargin) return;
    const double denom = norm_i * L.norm[q];
    if (!(denom > 0.0)) return;
    double sim = dot / denom;
    if constexpr (kShrink) sim *= n / (n + p.shrink);
    const float v = static_cast<float>(sim);
    if (!(v > 0.0f)) return;
    if (v >= bar_i) {
      top.offer(qi, v, L.id_of[q]);
      bar_i = top.bar(qi);
    }
    if (v >= bar_q) top.offer(q, v, id_i);
  };
  for (int32_t q = qi + 1; q < L.head; ++q) consider(q);
  const int32_t n_words = static_cast<int32_t>(s.reached.size());
  for (int32_t w = std::max(L.head, qi + 1) >> 6; w < n_words; ++w) {
    uint64_t bits = reached[w];
    if (bits == 0) continue;
    reached[w] = 0;
    do {
      consider(w * 64 + __builtin_ctzll(bits));
      bits &= bits - 1;
    } while (bits != 0);
  }
}

template <Width W, bool kShrink>
void all_pairs(const CsrView& ui, const SimLayout& L, const SimilarityParams& p, int num_threads,
               SharedTopK& top) {
  using Acc = std::conditional_t<W == Width::ones, int32_t, double>;
  const int32_t n_items = ui.n_cols;
#pragma omp parallel num_threads(thread_count(num_threads))
  {
    Scratch<Acc> s;
    s.acc.assign(static_cast<size_t>(n_items), 0);
    if (kShrink && W != Width::ones) s.common.assign(static_cast<size_t>(n_items), 0);
    s.reached.assign((static_cast<size_t>(n_items) + 63) / 64, 0);
    // Position 0, the most popular item, has the most pairs; the work falls along the
    // positions: small dynamic chunks.
#pragma omp for schedule(dynamic, 4)
    for (int32_t qi = 0; qi < n_items; ++qi) item_pairs<W, kShrink>(ui, L, p, qi, s, top);
  }
}

template <Width W>
void all_pairs(const CsrView& ui, const SimLayout& L, const SimilarityParams& p, int num_threads,
               SharedTopK& top) {
  if (p.shrink > 0.0) {
    all_pairs<W, true>(ui, L, p, num_threads, top);
  } else {
    all_pairs<W, false>(ui, L, p, num_threads, top);
  }
}

}  // namespace

int64_t item_similarity_topk_cpu(const CsrView& ui, const SimilarityParams& p, int num_threads,
                                 int32_t* out_indptr, int32_t* out_indices, float* out_data) {
  const int32_t n_items = ui.n_cols, K = p.n_neighbours;
  out_indptr[0] = 0;
  if (n_items == 0) return 0;
  const SimLayout L = build_layout(ui, transformed_values(ui, p));
  int32_t* count = out_indptr + 1;  // per item, before the prefix sum below
  if (K == 0) {
    std::fill(count, count + n_items, 0);
  } else {
    SharedTopK top(L.id_of.data(), n_items, K, count, out_indices, out_data);
    if (L.width == Width::ones) {
      all_pairs<Width::ones>(ui, L, p, num_threads, top);
    } else if (L.width == Width::single) {
      all_pairs<Width::single>(ui, L, p, num_threads, top);
    } else {
      all_pairs<Width::full>(ui, L, p, num_threads, top);
    }
    // Each heap in item order.
#pragma omp parallel num_threads(thread_count(num_threads))
    {
      std::vector<std::pair<int32_t, float>> row;
#pragma omp for schedule(static)
      for (int32_t i = 0; i < n_items; ++i) {
        int32_t* ids = out_indices + static_cast<int64_t>(i) * K;
        float* vals = out_data + static_cast<int64_t>(i) * K;
        row.clear();
        for (int32_t t = 0; t < count[i]; ++t) row.emplace_back(ids[t], vals[t]);
        std::sort(row.begin(), row.end());
        for (int32_t t = 0; t < count[i]; ++t) {
          ids[t] = row[t].first;
          vals[t] = row[t].second;
        }
      }
    }
  }
  // Compact the per-item slots into CSR order.
  int64_t offset = 0;
  for (int32_t i = 0; i < n_items; ++i) {
    const int32_t n = out_indptr[i + 1];
    const int64_t slot = static_cast<int64_t>(i) * K;
    if (offset != slot) {
      std::memmove(out_indices + offset, out_indices + slot, n * sizeof(int32_t));
      std::memmove(out_data + offset, out_data + slot, n * sizeof(float));
    }
    offset += n;
    out_indptr[i + 1] = static_cast<int32_t>(offset);
  }
  return offset;
}

}  // namespace convrec
