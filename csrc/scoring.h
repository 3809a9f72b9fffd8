// The CF engine's C++ interface: item-item similarity (CPU: similarity_cpu.cpp), batched neighbour
// scoring with fused top-k, and score fusion. CPU (scoring_cpu.cpp) and CUDA (scoring_cuda.cu)
// share these signatures; all pointers are host pointers (the CUDA path copies to and from the
// device itself).
#pragma once

#include <cstdint>

namespace convrec {

// A read-only CSR matrix: int32 indptr[n_rows + 1], int32 indices[nnz], float32 data[nnz].
struct CsrView {
  const int32_t* indptr;
  const int32_t* indices;
  const float* data;
  int32_t n_rows;
  int32_t n_cols;
};

// Similarity measures for item_similarity_topk.
//   cosine           cosine of the item columns of user_items.
//   adjusted_cosine  cosine after subtracting each user's mean rating (over that user's entries).
//   pearson          cosine after subtracting each item's mean rating (over that item's entries).
//   bm25             cosine after BM25 weighting (items are the documents, users the terms):
//                    w_ui = r_ui (k1 + 1) / (r_ui + k1 (1 - b + b len_i / avg_len)) * idf_u,
//                    len_i = sum_u r_ui, avg_len = mean_i len_i,
//                    idf_u = log(1 + (n_items - df_u + 0.5) / (df_u + 0.5)), df_u = nnz of row u.
// Every measure is then shrunk: sim * n_common / (n_common + shrink), n_common = co-rating users.
enum class Measure : int { cosine = 0, adjusted_cosine = 1, pearson = 2, bm25 = 3 };

struct SimilarityParams {
  Measure measure = Measure::cosine;
  int32_t n_neighbours = 50;  // K kept per item
  double shrink = 0.0;
  double bm25_k1 = 1.2;
  double bm25_b = 0.75;
};

// Item-item neighbours from user_items (users x items). For each item only the K most similar
// other items with similarity > 0 are kept (ties to the lower item index); rows of the result are
// sorted by item index. Writes out_indptr[n_items + 1] and the first nnz entries of
// out_indices / out_data, which must hold n_items * K entries; returns nnz.
int64_t item_similarity_topk_cpu(const CsrView& user_items, const SimilarityParams& params,
                                 int num_threads, int32_t* out_indptr, int32_t* out_indices,
                                 float* out_data);

// Outputs of a batched top-k: ids int32[B, k] (-1 padding), scores float32[B, k] (-inf padding),
// and optionally evidence int32[B, k, E] / evidence_weight float32[B, k, E] (-1 / 0 padding).
struct TopKOut {
  int32_t* ids;
  float* scores;
  int32_t k;
  int32_t* evidence;        // may be null when n_evidence == 0
  float* evidence_weight;   // may be null when n_evidence == 0
  int32_t n_evidence;
};

// An item layout for the CPU scorer: the neighbour matrix may be stored with its rows and
// columns permuted (e.g. items by falling popularity, so the hot part of the score array stays in
// L1 and the hot neighbour rows share pages), while histories, results, evidence and the tie rule
// keep item ids. pos_of[id] = position, id_of[position] = id; both null for the identity.
struct Layout {
  const int32_t* pos_of = nullptr;
  const int32_t* id_of = nullptr;
};

// How the CPU scorer finds the items a row reached: a bitmap scanned in order, or a list of
// first touches past a dense head of the first positions (the popular items, in a popularity
// layout). automatic picks the list in a layout (faster at every catalogue size measured), and
// without one the bitmap up to kBitmapMaxItems items, where the two cross over on a 2-core EPYC
// (benchmarks/README.md). Results never depend on it.
enum class ReachScan : int { automatic = 0, bitmap = 1, list = 2 };
constexpr int32_t kBitmapMaxItems = 16384;

// Scores every item for each history row b: score(i) = sum_h weight(h) * sim(h, i), summed in
// history order in float32. Candidates are the items reached by at least one neighbour edge,
// minus the history items when exclude_seen. The top k candidates by (score desc, item asc) are
// written; evidence lists, per returned item, the history items h with the largest contribution
// weight(h) * sim(h, i) (ties to the lower item index). `neighbours` must have sorted, unique
// indices per row (n_items x n_items, in layout positions on the CPU); histories.n_cols ==
// neighbours.n_rows. Results do not depend on the layout.
void score_topk_cpu(const CsrView& histories, const CsrView& neighbours, const Layout& layout,
                    bool exclude_seen, int num_threads, const TopKOut& out,
                    ReachScan scan = ReachScan::automatic);
void score_topk_cuda(const CsrView& histories, const CsrView& neighbours, bool exclude_seen,
                     const TopKOut& out);

// Dense histories @ neighbours for evaluation: out[b, i] += w(h) * sim(h, i) over row b's history
// in history order, in float32 (score_topk's sums exactly). out float32[B, n_cols] must be zero;
// neighbours.n_rows == histories.n_cols. (ranking_cpu.cpp)
void score_dense_cpu(const CsrView& histories, const CsrView& neighbours, int num_threads,
                     float* out);

// Per row b of scores T[B, n_cols] (NaN reads as -inf), with the excluded items of row b in
// ex_indices[ex_indptr[b], ex_indptr[b + 1]):
//   out_rank[b] (when target is not null) = #{j != target[b], j not excluded :
//     s[j] >= s[target[b]]}, the pessimistic 0-based rank; the target competes even if excluded;
//   out_top int32[B, k] = the k items not excluded with s > -inf, by (score desc, index asc),
//     -1 for padding and for items scored +inf.
template <class T>
void rank_topk_cpu(const T* scores, int32_t n_rows, int32_t n_cols, const int32_t* ex_indptr,
                   const int32_t* ex_indices, const int64_t* target, int32_t k, int num_threads,
                   int64_t* out_rank, int32_t* out_top);

enum class FusionMethod : int { weighted = 0, rrf = 1 };
enum class Normalisation : int { zscore = 0, minmax = 1, none = 2 };

struct FusionParams {
  FusionMethod method = FusionMethod::weighted;
  Normalisation normalisation = Normalisation::zscore;
  double rrf_k = 60.0;
  int32_t k = 10;
};

// Fuses S score sources over B x C candidates. candidates int32[B, C] (-1 = padding),
// sources float32[S, B, C] (NaN = missing), weights float32[S]. Per user and source, values are
// normalised over the valid entries (z-score with the population std, or min-max; a constant row
// gives 0). weighted: sum_s w_s z_s / sum_s w_s over the sources present for that candidate;
// rrf: sum_s w_s / (rrf_k + rank_s), ranks 1-based by (value desc, item asc). Candidates with no
// source present are dropped. Writes the top k by (score desc, item asc) into out (ids, scores),
// and, when out_shares is not null, each source's share of every candidate's fused score into
// out_shares float32[S, B, C] (see fuse_row): the shares of a candidate add up to its score.
void fuse_topk_cpu(const int32_t* candidates, const float* sources, const float* weights,
                   int32_t n_sources, int32_t n_users, int32_t n_candidates,
                   const FusionParams& params, int num_threads, int32_t* out_ids,
                   float* out_scores, float* out_shares);
void fuse_topk_cuda(const int32_t* candidates, const float* sources, const float* weights,
                    int32_t n_sources, int32_t n_users, int32_t n_candidates,
                    const FusionParams& params, int32_t* out_ids, float* out_scores,
                    float* out_shares);

}  // namespace convrec
