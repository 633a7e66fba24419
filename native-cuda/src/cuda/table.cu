// The CUDA library's exported entry points (C linkage, looked up by the addon and the harness):
// the kernel table of ../kernel_table.h, handed out only when a GPU can be used.
#include <cstdio>
#include <cstring>
#include <string>

#include "../kernel_table.h"
#include "backend.h"
#include "context.h"

namespace {

const R3mesKernelTable kTable = {
    R3MES_KERNEL_TABLE_VERSION,
    r3mes::cuda::matmulNT,
    r3mes::cuda::matmulNN,
    r3mes::cuda::matmulTN,
    r3mes::cuda::quantizeRows,
    r3mes::cuda::ternaryMatmul,
    r3mes::cuda::ternaryMatmulT,
    r3mes::cuda::rmsnormForward,
    r3mes::cuda::rmsnormBackward,
    r3mes::cuda::rope,
    r3mes::cuda::attentionForward,
    r3mes::cuda::attentionBackward,
    r3mes::cuda::relu2Forward,
    r3mes::cuda::relu2Backward,
    r3mes::cuda::addScaled,
    r3mes::cuda::crossEntropy,
    r3mes::cuda::adamw,
    r3mes::cuda::weightedSum,
    r3mes::cuda::fmathMap,
};

void write(char* dst, int bytes, const std::string& text) {
  if (dst == nullptr || bytes <= 0) return;
  std::snprintf(dst, static_cast<size_t>(bytes), "%s", text.c_str());
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const R3mesKernelTable* r3mes_cuda_open(char* reason,
                                                                                          int reasonBytes) {
  std::string description;
  if (!r3mes::cuda::probe(description)) {
    write(reason, reasonBytes, description);
    return nullptr;
  }
  try {
    r3mes::cuda::context();
  } catch (const std::exception& e) {
    write(reason, reasonBytes, e.what());
    return nullptr;
  }
  write(reason, reasonBytes, description);
  return &kTable;
}
