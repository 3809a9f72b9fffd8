// CUDA-side runtime facts: device probing that never throws when no driver is installed.
#include <cuda_runtime.h>

#include "runtime.h"

namespace convrec {

int cuda_device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error left by a missing driver
    return 0;
  }
  return count;
}

bool built_with_cuda() noexcept { return true; }

}  // namespace convrec
