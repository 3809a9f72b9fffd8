// The only pybind11 file: exposes the native engine to Python as convrec._native.
// numpy arrays in (dtype, contiguity and shape checked), preallocated numpy out, GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime.h"
#include "scoring.h"

namespace py = pybind11;

namespace {

template <class T>
const char* dtype_name();
template <>
const char* dtype_name<int32_t>() { return "int32"; }
template <>
const char* dtype_name<float>() { return "float32"; }

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Checks dtype, C-contiguity and rank; returns the data pointer.
template <class T>
const T* input(const py::array& a, const std::string& name, py::ssize_t ndim) {
  if (!a.dtype().is(py::dtype::of<T>())) {
    throw py::value_error(name + " must have dtype " + dtype_name<T>() + ", got " +
                          std::string(py::str(a.dtype())));
  }
  if (a.ndim() != ndim) {
    throw py::value_error(name + " must be " + std::to_string(ndim) + "-D, got shape " +
                          shape_of(a));
  }
  if (!(a.flags() & py::array::c_style)) throw py::value_error(name + " must be C-contiguous");
  return static_cast<const T*>(a.data());
}

int32_t checked_int32(py::ssize_t n, const std::string& what) {
  if (n > INT32_MAX) throw py::value_error(what + " exceeds the int32 range");
  return static_cast<int32_t>(n);
}

// Validates a CSR triplet with n_cols columns; sorted_unique demands strictly increasing rows.
convrec::CsrView csr_input(const py::array& indptr, const py::array& indices,
                           const py::array& data, int32_t n_cols, const std::string& name,
                           bool sorted_unique) {
  const int32_t* ptr = input<int32_t>(indptr, name + "_indptr", 1);
  const int32_t* idx = input<int32_t>(indices, name + "_indices", 1);
  const float* val = input<float>(data, name + "_data", 1);
  if (indptr.shape(0) < 1) throw py::value_error(name + "_indptr must not be empty");
  const int32_t n_rows = checked_int32(indptr.shape(0) - 1, name + " rows");
  if (indices.shape(0) != data.shape(0)) {
    throw py::value_error(name + "_indices and " + name + "_data differ in length");
  }
  if (ptr[0] != 0 || ptr[n_rows] != indices.shape(0)) {
    throw py::value_error(name + "_indptr must start at 0 and end at len(" + name +
                          "_indices)");
  }
  for (int32_t r = 0; r < n_rows; ++r) {
    if (ptr[r + 1] < ptr[r]) throw py::value_error(name + "_indptr must be non-decreasing");
    // Range by a branch-free min / max over the row (vectorised), sortedness likewise.
    int32_t lo = INT32_MAX, hi = INT32_MIN, descents = 0;
    for (int32_t e = ptr[r]; e < ptr[r + 1]; ++e) {
      lo = std::min(lo, idx[e]);
      hi = std::max(hi, idx[e]);
    }
    if (ptr[r + 1] > ptr[r] && (lo < 0 || hi >= n_cols)) {
      throw py::value_error(name + "_indices out of range [0, " + std::to_string(n_cols) +
                            ") in row " + std::to_string(r));
    }
    if (sorted_unique) {
      for (int32_t e = ptr[r] + 1; e < ptr[r + 1]; ++e) descents += idx[e] <= idx[e - 1];
      if (descents > 0) {
        throw py::value_error(name + "_indices must be sorted and unique within each row");
      }
    }
  }
  return convrec::CsrView{ptr, idx, val, n_rows, n_cols};
}

convrec::Measure parse_measure(const std::string& m) {
  if (m == "cosine") return convrec::Measure::cosine;
  if (m == "adjusted_cosine") return convrec::Measure::adjusted_cosine;
  if (m == "pearson") return convrec::Measure::pearson;
  if (m == "bm25") return convrec::Measure::bm25;
  throw py::value_error("unknown similarity '" + m +
                        "' (expected cosine, adjusted_cosine, pearson or bm25)");
}

convrec::ReachScan parse_scan(const std::string& s) {
  if (s == "auto") return convrec::ReachScan::automatic;
  if (s == "bitmap") return convrec::ReachScan::bitmap;
  if (s == "list") return convrec::ReachScan::list;
  throw py::value_error("unknown scan '" + s + "' (expected auto, bitmap or list)");
}

py::tuple item_similarity(const py::array& indptr, const py::array& indices,
                          const py::array& data, int32_t n_items, int32_t n_neighbours,
                          const std::string& measure, double shrink, double bm25_k1,
                          double bm25_b, int num_threads) {
  if (n_items < 0) throw py::value_error("n_items must be >= 0");
  if (n_neighbours <= 0) throw py::value_error("n_neighbours must be > 0");
  if (!(shrink >= 0.0) || !std::isfinite(shrink)) throw py::value_error("shrink must be >= 0");
  const convrec::CsrView ui = csr_input(indptr, indices, data, n_items, "user_items", false);
  convrec::SimilarityParams p;
  p.measure = parse_measure(measure);
  p.n_neighbours = std::min(n_neighbours, std::max(n_items - 1, 0));
  p.shrink = shrink;
  p.bm25_k1 = bm25_k1;
  p.bm25_b = bm25_b;
  const py::ssize_t slots = static_cast<py::ssize_t>(n_items) * p.n_neighbours;
  py::array_t<int32_t> out_ptr(static_cast<py::ssize_t>(n_items) + 1);
  py::array_t<int32_t> slot_idx(slots);
  py::array_t<float> slot_val(slots);
  int64_t nnz = 0;
  {
    int32_t* optr = out_ptr.mutable_data();
    int32_t* oidx = slot_idx.mutable_data();
    float* oval = slot_val.mutable_data();
    py::gil_scoped_release release;
    nnz = convrec::item_similarity_topk_cpu(ui, p, num_threads, optr, oidx, oval);
  }
  py::array_t<int32_t> out_idx(nnz);
  py::array_t<float> out_val(nnz);
  std::memcpy(out_idx.mutable_data(), slot_idx.data(), nnz * sizeof(int32_t));
  std::memcpy(out_val.mutable_data(), slot_val.data(), nnz * sizeof(float));
  return py::make_tuple(out_ptr, out_idx, out_val);
}

// Checks that item_order (int32[n_items], position -> item id) is a permutation and fills
// pos_of, its inverse (item id -> position).
const int32_t* layout_input(const py::array& item_order, int32_t n_items,
                            std::vector<int32_t>* pos_of) {
  const int32_t* order = input<int32_t>(item_order, "item_order", 1);
  if (item_order.shape(0) != n_items) {
    throw py::value_error("item_order must have one entry per item (" + std::to_string(n_items) +
                          "), got " + std::to_string(item_order.shape(0)));
  }
  pos_of->assign(static_cast<size_t>(n_items), -1);
  for (int32_t p = 0; p < n_items; ++p) {
    const int32_t id = order[p];
    if (id < 0 || id >= n_items || (*pos_of)[id] >= 0) {
      throw py::value_error("item_order must be a permutation of 0.." +
                            std::to_string(n_items - 1) + " (position " + std::to_string(p) +
                            " holds " + std::to_string(id) + ")");
    }
    (*pos_of)[id] = p;
  }
  return order;
}

py::tuple score_topk(const py::array& hist_indptr, const py::array& hist_indices,
                     const py::array& hist_data, const py::array& nbr_indptr,
                     const py::array& nbr_indices, const py::array& nbr_data, int32_t k,
                     bool exclude_seen, int32_t n_evidence, int num_threads, bool use_cuda,
                     const py::object& item_order, const std::string& scan) {
  if (k <= 0) throw py::value_error("k must be > 0");
  if (n_evidence < 0) throw py::value_error("n_evidence must be >= 0");
  const py::ssize_t n_items_raw = nbr_indptr.ndim() == 1 ? nbr_indptr.shape(0) - 1 : 0;
  const int32_t n_items = checked_int32(std::max<py::ssize_t>(n_items_raw, 0), "n_items");
  const convrec::CsrView nbr = csr_input(nbr_indptr, nbr_indices, nbr_data, n_items,
                                         "neighbours", true);
  const convrec::CsrView hist = csr_input(hist_indptr, hist_indices, hist_data, n_items,
                                          "histories", false);
  const convrec::ReachScan reach_scan = parse_scan(scan);
  std::vector<int32_t> pos_of;
  py::array order;  // holds item_order for the call
  convrec::Layout layout;
  if (!item_order.is_none()) {
    if (use_cuda) throw py::value_error("item_order is a CPU layout; the CUDA path takes none");
    order = item_order.cast<py::array>();
    layout.id_of = layout_input(order, n_items, &pos_of);
    layout.pos_of = pos_of.data();
  }
  const py::ssize_t B = hist.n_rows;
  py::array_t<int32_t> ids({B, static_cast<py::ssize_t>(k)});
  py::array_t<float> scores({B, static_cast<py::ssize_t>(k)});
  py::array_t<int32_t> ev({B, static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(n_evidence)});
  py::array_t<float> ev_w({B, static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(n_evidence)});
  convrec::TopKOut out{ids.mutable_data(), scores.mutable_data(), k,
                       n_evidence > 0 ? ev.mutable_data() : nullptr,
                       n_evidence > 0 ? ev_w.mutable_data() : nullptr, n_evidence};
  {
    py::gil_scoped_release release;
    if (use_cuda) {
      convrec::score_topk_cuda(hist, nbr, exclude_seen, out);
    } else {
      convrec::score_topk_cpu(hist, nbr, layout, exclude_seen, num_threads, out, reach_scan);
    }
  }
  if (n_evidence == 0) return py::make_tuple(ids, scores, py::none(), py::none());
  return py::make_tuple(ids, scores, ev, ev_w);
}

py::tuple fuse_topk(const py::array& candidates, const py::array& sources,
                    const py::array& weights, int32_t k, const std::string& method,
                    const std::string& normalisation, double rrf_k, int num_threads,
                    bool use_cuda, bool with_shares) {
  if (k <= 0) throw py::value_error("k must be > 0");
  const int32_t* cand = input<int32_t>(candidates, "candidates", 2);
  const float* src = input<float>(sources, "sources", 3);
  const float* w = input<float>(weights, "weights", 1);
  const int32_t B = checked_int32(candidates.shape(0), "users");
  const int32_t C = checked_int32(candidates.shape(1), "candidates");
  const int32_t S = checked_int32(sources.shape(0), "sources");
  if (sources.shape(1) != B || sources.shape(2) != C) {
    throw py::value_error("sources must have shape (S, " + std::to_string(B) + ", " +
                          std::to_string(C) + "), got " + shape_of(sources));
  }
  if (weights.shape(0) != S) {
    throw py::value_error("weights must have shape (" + std::to_string(S) + ",), got " +
                          shape_of(weights));
  }
  for (int32_t s = 0; s < S; ++s) {
    if (!(w[s] >= 0.0f) || !std::isfinite(w[s])) {
      throw py::value_error("weights must be finite and >= 0");
    }
  }
  convrec::FusionParams p;
  if (method == "weighted") {
    p.method = convrec::FusionMethod::weighted;
  } else if (method == "rrf") {
    p.method = convrec::FusionMethod::rrf;
  } else {
    throw py::value_error("unknown fusion method '" + method + "' (expected weighted or rrf)");
  }
  if (normalisation == "zscore") {
    p.normalisation = convrec::Normalisation::zscore;
  } else if (normalisation == "minmax") {
    p.normalisation = convrec::Normalisation::minmax;
  } else if (normalisation == "none") {
    p.normalisation = convrec::Normalisation::none;
  } else {
    throw py::value_error("unknown normalisation '" + normalisation +
                          "' (expected zscore, minmax or none)");
  }
  if (!(rrf_k >= 0.0) || !std::isfinite(rrf_k)) throw py::value_error("rrf_k must be >= 0");
  p.rrf_k = rrf_k;
  p.k = k;
  py::array_t<int32_t> ids({static_cast<py::ssize_t>(B), static_cast<py::ssize_t>(k)});
  py::array_t<float> scores({static_cast<py::ssize_t>(B), static_cast<py::ssize_t>(k)});
  py::array_t<float> shares(with_shares ? std::vector<py::ssize_t>{S, B, C}
                                        : std::vector<py::ssize_t>{0, 0, 0});
  {
    int32_t* oid = ids.mutable_data();
    float* osc = scores.mutable_data();
    float* osh = with_shares ? shares.mutable_data() : nullptr;
    py::gil_scoped_release release;
    if (use_cuda) {
      convrec::fuse_topk_cuda(cand, src, w, S, B, C, p, oid, osc, osh);
    } else {
      convrec::fuse_topk_cpu(cand, src, w, S, B, C, p, num_threads, oid, osc, osh);
    }
  }
  if (!with_shares) return py::make_tuple(ids, scores);
  return py::make_tuple(ids, scores, shares);
}

py::array_t<float> score_dense(const py::array& hist_indptr, const py::array& hist_indices,
                               const py::array& hist_data, const py::array& nbr_indptr,
                               const py::array& nbr_indices, const py::array& nbr_data,
                               int32_t n_cols, int num_threads) {
  if (n_cols < 0) throw py::value_error("n_cols must be >= 0");
  const convrec::CsrView nbr = csr_input(nbr_indptr, nbr_indices, nbr_data, n_cols,
                                         "neighbours", false);
  const convrec::CsrView hist = csr_input(hist_indptr, hist_indices, hist_data, nbr.n_rows,
                                          "histories", false);
  py::array_t<float> out(
      {static_cast<py::ssize_t>(hist.n_rows), static_cast<py::ssize_t>(n_cols)});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    std::memset(o, 0, sizeof(float) * static_cast<size_t>(hist.n_rows) * n_cols);
    convrec::score_dense_cpu(hist, nbr, num_threads, o);
  }
  return out;
}

template <class T>
py::tuple rank_topk_typed(const py::array& scores, const int32_t* ptr, const int32_t* idx,
                          const int64_t* tgt, int32_t k, int num_threads) {
  const T* s = static_cast<const T*>(scores.data());
  const int32_t B = static_cast<int32_t>(scores.shape(0));
  const int32_t n = checked_int32(scores.shape(1), "items");
  py::array_t<int64_t> rank(tgt != nullptr ? B : 0);
  py::array_t<int32_t> top({static_cast<py::ssize_t>(B), static_cast<py::ssize_t>(k)});
  int64_t* r = tgt != nullptr ? rank.mutable_data() : nullptr;
  int32_t* t = top.mutable_data();
  {
    py::gil_scoped_release release;
    convrec::rank_topk_cpu<T>(s, B, n, ptr, idx, tgt, k, num_threads, r, t);
  }
  if (tgt == nullptr) return py::make_tuple(py::none(), top);
  return py::make_tuple(rank, top);
}

py::tuple rank_topk(const py::array& scores, const py::array& exclude_indptr,
                    const py::array& exclude_indices, const py::object& target, int32_t k,
                    int num_threads) {
  if (k < 0) throw py::value_error("k must be >= 0");
  if (scores.ndim() != 2) {
    throw py::value_error("scores must be 2-D, got shape " + shape_of(scores));
  }
  if (!(scores.flags() & py::array::c_style)) throw py::value_error("scores must be C-contiguous");
  const int32_t B = checked_int32(scores.shape(0), "rows");
  const int32_t n = checked_int32(scores.shape(1), "items");
  const int32_t* ptr = input<int32_t>(exclude_indptr, "exclude_indptr", 1);
  const int32_t* idx = input<int32_t>(exclude_indices, "exclude_indices", 1);
  if (exclude_indptr.shape(0) != static_cast<py::ssize_t>(B) + 1 || ptr[0] != 0 ||
      ptr[B] != exclude_indices.shape(0)) {
    throw py::value_error("exclude must be a CSR with one row per score row (" +
                          std::to_string(B) + ")");
  }
  for (int32_t b = 0; b < B; ++b) {
    if (ptr[b + 1] < ptr[b]) throw py::value_error("exclude_indptr must be non-decreasing");
  }
  for (py::ssize_t e = 0; e < exclude_indices.shape(0); ++e) {
    if (idx[e] < 0 || idx[e] >= n) {
      throw py::value_error("exclude_indices out of range [0, " + std::to_string(n) + ")");
    }
  }
  const int64_t* tgt = nullptr;
  py::array target_arr;
  if (!target.is_none()) {
    target_arr = target.cast<py::array>();
    if (!target_arr.dtype().is(py::dtype::of<int64_t>()) || target_arr.ndim() != 1 ||
        target_arr.shape(0) != B || !(target_arr.flags() & py::array::c_style)) {
      throw py::value_error("target must be a C-contiguous int64 array with one item per row");
    }
    tgt = static_cast<const int64_t*>(target_arr.data());
    for (int32_t b = 0; b < B; ++b) {
      if (tgt[b] < 0 || tgt[b] >= n) {
        throw py::value_error("target " + std::to_string(tgt[b]) + " of row " +
                              std::to_string(b) + " out of range [0, " + std::to_string(n) + ")");
      }
    }
  }
  if (scores.dtype().is(py::dtype::of<float>())) {
    return rank_topk_typed<float>(scores, ptr, idx, tgt, k, num_threads);
  }
  if (scores.dtype().is(py::dtype::of<double>())) {
    return rank_topk_typed<double>(scores, ptr, idx, tgt, k, num_threads);
  }
  throw py::value_error("scores must have dtype float32 or float64, got " +
                        std::string(py::str(scores.dtype())));
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "convrec native engine (private; use convrec.cf)";
  m.def("version", [] { return std::string(CONVREC_VERSION); },
        "Version string of the compiled extension.");
  m.def("built_with_cuda", &convrec::built_with_cuda,
        "True when the extension was compiled with the CUDA path.");
  m.def("cuda_available", [] { return convrec::cuda_device_count() > 0; },
        "True when the CUDA path is compiled in and a CUDA device is usable.");
  m.def("cuda_device_count", &convrec::cuda_device_count, "Number of usable CUDA devices.");
  m.def("max_threads", &convrec::max_threads,
        "Maximum OpenMP threads (1 when built without OpenMP).");
  m.def("item_similarity", &item_similarity, py::arg("indptr"), py::arg("indices"),
        py::arg("data"), py::arg("n_items"), py::arg("n_neighbours"), py::arg("measure"),
        py::arg("shrink") = 0.0, py::arg("bm25_k1") = 1.2, py::arg("bm25_b") = 0.75,
        py::arg("num_threads") = 1,
        "Top-K item-item neighbours of a user_items CSR -> (indptr, indices, data).");
  m.attr("BITMAP_MAX_ITEMS") = convrec::kBitmapMaxItems;
  m.def("score_topk", &score_topk, py::arg("hist_indptr"), py::arg("hist_indices"),
        py::arg("hist_data"), py::arg("nbr_indptr"), py::arg("nbr_indices"),
        py::arg("nbr_data"), py::arg("k"), py::arg("exclude_seen") = true,
        py::arg("n_evidence") = 0, py::arg("num_threads") = 1, py::arg("use_cuda") = false,
        py::arg("item_order") = py::none(), py::arg("scan") = "auto",
        "Batched neighbour scoring with fused top-k -> (ids, scores, evidence, weight); "
        "item_order (position -> id) says the neighbour matrix is stored in that layout; "
        "scan ('auto', 'bitmap', 'list') picks how the CPU finds reached items.");
  m.def("score_dense", &score_dense, py::arg("hist_indptr"), py::arg("hist_indices"),
        py::arg("hist_data"), py::arg("nbr_indptr"), py::arg("nbr_indices"),
        py::arg("nbr_data"), py::arg("n_cols"), py::arg("num_threads") = 1,
        "Dense histories @ neighbours, float32[B, n_cols], summed in history order.");
  m.def("rank_topk", &rank_topk, py::arg("scores"), py::arg("exclude_indptr"),
        py::arg("exclude_indices"), py::arg("target") = py::none(), py::arg("k") = 10,
        py::arg("num_threads") = 1,
        "Pessimistic rank of each row's target and the row's top k outside exclude -> "
        "(rank int64[B] or None, top int32[B, k]).");
  m.def("fuse_topk", &fuse_topk, py::arg("candidates"), py::arg("sources"), py::arg("weights"),
        py::arg("k"), py::arg("method") = "weighted", py::arg("normalisation") = "zscore",
        py::arg("rrf_k") = 60.0, py::arg("num_threads") = 1, py::arg("use_cuda") = false,
        py::arg("with_shares") = false,
        "Per-user normalised blend or reciprocal-rank fusion with top-k -> (ids, scores), "
        "and with_shares: (ids, scores, shares float32[S, B, C]).");
}
