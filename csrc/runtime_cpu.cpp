// CPU-side runtime facts; the CUDA facts come from runtime_cuda.cu when that path is built.
#include "runtime.h"

#ifdef CONVREC_WITH_OPENMP
#include <omp.h>
#endif

namespace convrec {

#ifndef CONVREC_WITH_CUDA
int cuda_device_count() noexcept { return 0; }
bool built_with_cuda() noexcept { return false; }
#endif

int max_threads() noexcept {
#ifdef CONVREC_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace convrec
