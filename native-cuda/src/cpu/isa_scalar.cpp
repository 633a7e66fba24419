// Baseline x86-64 (SSE2) copy of the inner loops; also the copy used on non-x86 machines.
#define R3MES_ISA_NS isa_scalar
#define R3MES_VW 4
#define R3MES_TERNARY 0
#define R3MES_TABLE_FN isaTableScalar
#include "kernels_impl.h"
