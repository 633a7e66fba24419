// AVX2 copy of the inner loops (built with -mavx2; chosen only when the CPU reports AVX2).
#define R3MES_ISA_NS isa_avx2
#define R3MES_VW 8
#define R3MES_TERNARY 2
#define R3MES_TABLE_FN isaTableAvx2
#include "kernels_impl.h"
