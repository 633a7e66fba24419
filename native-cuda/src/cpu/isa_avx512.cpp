// AVX-512 copy of the inner loops (built with -mavx512f/bw/vl/vnni; chosen only when the CPU
// and the OS report all of them).
#define R3MES_ISA_NS isa_avx512
#define R3MES_VW 16
#define R3MES_TERNARY 1
#define R3MES_TABLE_FN isaTableAvx512
#include "kernels_impl.h"
