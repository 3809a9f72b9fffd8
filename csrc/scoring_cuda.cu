// CUDA kernels of the CF engine: batched scoring with fused top-k (one block per user) and fusion
// (one thread per user), bit-identical to the CPU path (built with --fmad=false, same row code).
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "rowops.h"
#include "scoring.h"

namespace convrec {
namespace {

constexpr int kBlock = 256;
constexpr uint8_t kTouched = 1, kExcluded = 2, kChosen = 3;

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                             cudaGetErrorString(err));
  }
}

// Owns one device allocation of n elements of T.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n_ > 0) check(cudaMalloc(&ptr_, n_ * sizeof(T)), "cudaMalloc");
  }
  DeviceBuffer(const T* host, size_t n) : DeviceBuffer(n) {
    if (n_ > 0) check(cudaMemcpy(ptr_, host, n_ * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  void zero() {
    if (n_ > 0) check(cudaMemset(ptr_, 0, n_ * sizeof(T)), "cudaMemset");
  }
  void download(T* host) const {
    if (n_ > 0) check(cudaMemcpy(host, ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "download");
  }

 private:
  T* ptr_ = nullptr;
  size_t n_;
};

// Device copy of a host CSR; view() points at the device arrays.
struct DeviceCsr {
  DeviceBuffer<int32_t> indptr, indices;
  DeviceBuffer<float> data;
  CsrView host;
  explicit DeviceCsr(const CsrView& m)
      : indptr(m.indptr, static_cast<size_t>(m.n_rows) + 1),
        indices(m.indices, m.indptr[m.n_rows]),
        data(m.data, m.indptr[m.n_rows]),
        host(m) {}
  CsrView view() const { return CsrView{indptr.get(), indices.get(), data.get(), host.n_rows,
                                        host.n_cols}; }
};

__global__ void score_topk_kernel(CsrView hist, CsrView nbr, bool exclude_seen, TopKOut out,
                                  float* ws_score, uint8_t* ws_mark, int32_t* ws_touched) {
  __shared__ float red_score[kBlock];
  __shared__ int32_t red_id[kBlock];
  __shared__ int32_t n_touched;
  const int32_t n_items = nbr.n_rows, k = out.k, E = out.n_evidence;
  const int tid = threadIdx.x;
  float* score = ws_score + static_cast<int64_t>(blockIdx.x) * n_items;
  uint8_t* mark = ws_mark + static_cast<int64_t>(blockIdx.x) * n_items;
  int32_t* touched = ws_touched + static_cast<int64_t>(blockIdx.x) * n_items;

  for (int32_t b = blockIdx.x; b < hist.n_rows; b += gridDim.x) {
    const int32_t lo = hist.indptr[b], hi = hist.indptr[b + 1];
    if (exclude_seen) {
      for (int32_t e = lo + tid; e < hi; e += blockDim.x) mark[hist.indices[e]] = kExcluded;
    }
    if (tid == 0) n_touched = 0;
    __syncthreads();
    // History entries in order, so each item's sum is accumulated in the CPU's order; the items
    // of one neighbour row are unique, so no two threads touch the same score at once.
    for (int32_t e = lo; e < hi; ++e) {
      const int32_t h = hist.indices[e];
      const float w = hist.data[e];
      for (int32_t q = nbr.indptr[h] + tid; q < nbr.indptr[h + 1]; q += blockDim.x) {
        const int32_t i = nbr.indices[q];
        const uint8_t m = mark[i];
        if (m == kExcluded) continue;
        if (m == 0) {
          mark[i] = kTouched;
          touched[atomicAdd(&n_touched, 1)] = i;
        }
        score[i] = __fadd_rn(score[i], __fmul_rn(w, nbr.data[q]));
      }
      __syncthreads();
    }
    const int32_t nt = n_touched;
    int32_t* ids = out.ids + static_cast<int64_t>(b) * k;
    float* scores = out.scores + static_cast<int64_t>(b) * k;
    // k rounds of a block-wide arg-best over the touched items.
    for (int32_t j = 0; j < k; ++j) {
      float best_s = -INFINITY;
      int32_t best_i = -1;
      for (int32_t t = tid; t < nt; t += blockDim.x) {
        const int32_t i = touched[t];
        if (mark[i] == kChosen) continue;
        if (best_i < 0 || ranks_before(score[i], i, best_s, best_i)) {
          best_s = score[i];
          best_i = i;
        }
      }
      red_score[tid] = best_s;
      red_id[tid] = best_i;
      __syncthreads();
      for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (tid < stride) {
          const int32_t oi = red_id[tid + stride];
          if (oi >= 0 && (red_id[tid] < 0 ||
                          ranks_before(red_score[tid + stride], oi, red_score[tid],
                                       red_id[tid]))) {
            red_score[tid] = red_score[tid + stride];
            red_id[tid] = oi;
          }
        }
        __syncthreads();
      }
      if (tid == 0) {
        ids[j] = red_id[0];
        scores[j] = red_id[0] >= 0 ? red_score[0] : -INFINITY;
        if (red_id[0] >= 0) mark[red_id[0]] = kChosen;
      }
      __syncthreads();
    }
    for (int32_t j = tid; j < k && E > 0; j += blockDim.x) {
      const int64_t at = (static_cast<int64_t>(b) * k + j) * E;
      collect_evidence(hist, nbr, nullptr, b, ids[j], E, out.evidence + at,
                       out.evidence_weight + at);
    }
    for (int32_t t = tid; t < nt; t += blockDim.x) {
      score[touched[t]] = 0.0f;
      mark[touched[t]] = 0;
    }
    __syncthreads();
    for (int32_t e = lo + tid; e < hi; e += blockDim.x) mark[hist.indices[e]] = 0;
    __syncthreads();
  }
}

__global__ void fuse_kernel(const int32_t* cand, const float* sources, const float* weights,
                            int32_t n_sources, int32_t n_users, int32_t n_candidates,
                            FusionParams p, double* acc, double* wsum, int32_t* ids,
                            float* scores, float* shares) {
  const int32_t b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= n_users) return;
  const int64_t row = static_cast<int64_t>(b) * n_candidates;
  fuse_row(cand + row, sources, weights, n_sources, n_users, n_candidates, b, p, acc + row,
           wsum + row, ids + static_cast<int64_t>(b) * p.k, scores + static_cast<int64_t>(b) * p.k,
           shares);
}

}  // namespace

void score_topk_cuda(const CsrView& histories, const CsrView& neighbours, bool exclude_seen,
                     const TopKOut& out) {
  const int32_t B = histories.n_rows, n_items = neighbours.n_rows;
  const size_t n_out = static_cast<size_t>(B) * out.k;
  const size_t n_ev = n_out * out.n_evidence;
  if (B == 0) return;
  DeviceCsr hist(histories), nbr(neighbours);
  DeviceBuffer<int32_t> ids(n_out), ev(n_ev);
  DeviceBuffer<float> scores(n_out), ev_w(n_ev);
  // Workspace per resident block: a dense score row, marks and a touched list (~9 B per item),
  // capped at about 256 MiB in all.
  const size_t per_block = std::max<size_t>(static_cast<size_t>(n_items) * 9, 1);
  const int grid = static_cast<int>(
      std::max<size_t>(1, std::min<size_t>({static_cast<size_t>(B), 1024,
                                           (size_t{256} << 20) / per_block})));
  DeviceBuffer<float> ws_score(static_cast<size_t>(grid) * n_items);
  DeviceBuffer<uint8_t> ws_mark(static_cast<size_t>(grid) * n_items);
  DeviceBuffer<int32_t> ws_touched(static_cast<size_t>(grid) * n_items);
  ws_score.zero();
  ws_mark.zero();
  TopKOut dev_out{ids.get(), scores.get(), out.k, ev.get(), ev_w.get(), out.n_evidence};
  score_topk_kernel<<<grid, kBlock>>>(hist.view(), nbr.view(), exclude_seen, dev_out,
                                      ws_score.get(), ws_mark.get(), ws_touched.get());
  check(cudaGetLastError(), "score_topk_kernel launch");
  check(cudaDeviceSynchronize(), "score_topk_kernel");
  ids.download(out.ids);
  scores.download(out.scores);
  if (out.n_evidence > 0) {
    ev.download(out.evidence);
    ev_w.download(out.evidence_weight);
  }
}

void fuse_topk_cuda(const int32_t* candidates, const float* sources, const float* weights,
                    int32_t n_sources, int32_t n_users, int32_t n_candidates,
                    const FusionParams& params, int32_t* out_ids, float* out_scores,
                    float* out_shares) {
  if (n_users == 0) return;
  const size_t cells = static_cast<size_t>(n_users) * n_candidates;
  DeviceBuffer<int32_t> cand(candidates, cells);
  DeviceBuffer<float> src(sources, cells * n_sources);
  DeviceBuffer<float> w(weights, n_sources);
  DeviceBuffer<double> acc(cells), wsum(cells);
  DeviceBuffer<int32_t> ids(static_cast<size_t>(n_users) * params.k);
  DeviceBuffer<float> scores(static_cast<size_t>(n_users) * params.k);
  DeviceBuffer<float> shares(out_shares ? cells * n_sources : 0);
  const int threads = 128;
  const int blocks = (n_users + threads - 1) / threads;
  fuse_kernel<<<blocks, threads>>>(cand.get(), src.get(), w.get(), n_sources, n_users,
                                   n_candidates, params, acc.get(), wsum.get(), ids.get(),
                                   scores.get(), out_shares ? shares.get() : nullptr);
  check(cudaGetLastError(), "fuse_kernel launch");
  check(cudaDeviceSynchronize(), "fuse_kernel");
  ids.download(out_ids);
  scores.download(out_scores);
  if (out_shares) shares.download(out_shares);
}

}  // namespace convrec
