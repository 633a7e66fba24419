// The CPU kernels as a kernel table (../kernel_table.h): what the Node-API binding and the
// standalone harness call the cpu backend through, as they call the CUDA library's table.
#include "../kernel_table.h"
#include "../kernels.h"

namespace r3mes {
namespace cpu {

const R3mesKernelTable* kernelTable() {
  static const R3mesKernelTable table = {
      R3MES_KERNEL_TABLE_VERSION,
      matmulNT,
      matmulNN,
      matmulTN,
      quantizeRows,
      ternaryMatmul,
      ternaryMatmulT,
      rmsnormForward,
      rmsnormBackward,
      rope,
      attentionForward,
      attentionBackward,
      relu2Forward,
      relu2Backward,
      addScaled,
      crossEntropy,
      adamw,
      weightedSum,
      fmathMap,
  };
  return &table;
}

}  // namespace cpu
}  // namespace r3mes
