// Build and device facts of the native engine, shared by the CPU and CUDA translation units.
#pragma once

namespace convrec {

// Number of usable CUDA devices; 0 when built without CUDA or when no driver/device is present.
int cuda_device_count() noexcept;

// True when this build contains the CUDA path.
bool built_with_cuda() noexcept;

// Maximum OpenMP threads available (1 when built without OpenMP).
int max_threads() noexcept;

}  // namespace convrec
