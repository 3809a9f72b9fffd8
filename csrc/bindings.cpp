// The only pybind11 file: exposes the native engine to Python as convrec._native.
#include <pybind11/pybind11.h>

#include "runtime.h"

namespace py = pybind11;

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
}
