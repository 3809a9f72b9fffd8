// CPU kernels of evaluation at scale: dense neighbour scores without a top-k, and the rank of a
// held-out item plus each row's top k over a dense score matrix, in one pass per row.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "scoring.h"

namespace convrec {

void score_dense_cpu(const CsrView& histories, const CsrView& neighbours, int num_threads,
                     float* out) {
  const int64_t n_cols = neighbours.n_cols;
  const int32_t n_rows = histories.n_rows;
#pragma omp parallel for schedule(dynamic, 16) num_threads(num_threads > 0 ? num_threads : 1)
  for (int32_t b = 0; b < n_rows; ++b) {
    float* row = out + static_cast<int64_t>(b) * n_cols;
    for (int32_t e = histories.indptr[b]; e < histories.indptr[b + 1]; ++e) {
      const int32_t h = histories.indices[e];
      const float w = histories.data[e];
      for (int32_t q = neighbours.indptr[h]; q < neighbours.indptr[h + 1]; ++q) {
        row[neighbours.indices[q]] += w * neighbours.data[q];
      }
    }
  }
}

template <class T>
void rank_topk_cpu(const T* scores, int32_t n_rows, int32_t n_cols, const int32_t* ex_indptr,
                   const int32_t* ex_indices, const int64_t* target, int32_t k, int num_threads,
                   int64_t* out_rank, int32_t* out_top) {
  constexpr T kMinusInf = -std::numeric_limits<T>::infinity();
#pragma omp parallel num_threads(num_threads > 0 ? num_threads : 1)
  {
    std::vector<uint8_t> excluded(static_cast<size_t>(n_cols), 0);
    std::vector<T> best(static_cast<size_t>(k));
    std::vector<int32_t> ids(static_cast<size_t>(k));
#pragma omp for schedule(dynamic, 16)
    for (int32_t b = 0; b < n_rows; ++b) {
      const T* s = scores + static_cast<int64_t>(b) * n_cols;
      for (int32_t e = ex_indptr[b]; e < ex_indptr[b + 1]; ++e) excluded[ex_indices[e]] = 1;
      const int64_t t_item = target != nullptr ? target[b] : -1;
      T t = t_item >= 0 ? s[t_item] : T(0);
      if (std::isnan(t)) t = kMinusInf;
      int64_t ahead = 0;
      int32_t count = 0;
      for (int32_t j = 0; j < n_cols; ++j) {
        const bool out_of_list = excluded[j] != 0;
        if (out_of_list && j != t_item) continue;
        T v = s[j];
        if (std::isnan(v)) v = kMinusInf;
        ahead += v >= t;
        // the list: items left in, above -inf; equal scores keep the lower index first
        if (k == 0 || out_of_list || v == kMinusInf || (count == k && !(v > best[k - 1]))) {
          continue;
        }
        int32_t pos = count == k ? k - 1 : count++;
        for (; pos > 0 && best[pos - 1] < v; --pos) {
          best[pos] = best[pos - 1];
          ids[pos] = ids[pos - 1];
        }
        best[pos] = v;
        ids[pos] = j;
      }
      if (out_rank != nullptr) out_rank[b] = ahead - 1;  // the target counted itself
      int32_t* top = out_top + static_cast<int64_t>(b) * k;
      for (int32_t j = 0; j < k; ++j) {
        top[j] = j < count && std::isfinite(best[j]) ? ids[j] : -1;
      }
      for (int32_t e = ex_indptr[b]; e < ex_indptr[b + 1]; ++e) excluded[ex_indices[e]] = 0;
    }
  }
}

template void rank_topk_cpu<float>(const float*, int32_t, int32_t, const int32_t*,
                                   const int32_t*, const int64_t*, int32_t, int, int64_t*,
                                   int32_t*);
template void rank_topk_cpu<double>(const double*, int32_t, int32_t, const int32_t*,
                                    const int32_t*, const int64_t*, int32_t, int, int64_t*,
                                    int32_t*);

}  // namespace convrec
