// The per-instruction-set inner loops of the CPU backend. The same source (kernels_impl.h) is
// compiled three times: isa_scalar.cpp (baseline x86-64, SSE2), isa_avx2.cpp (-mavx2) and
// isa_avx512.cpp (-mavx512f/bw/vl/vnni); dispatch.cpp picks one table at run time. Every
// function computes a rectangle of outputs, each output in the contract's canonical order, so
// tables differ in speed only, never in bits.
//
// This header and the ISA translation units use only C types and raw pointers: no standard
// library templates, whose out-of-line copies the linker could otherwise take from an AVX-512
// unit and run on a CPU without AVX-512.
#pragma once

#include <cstdint>

namespace r3mes {
namespace cpu {

struct IsaTable {
  const char* name;

  /**
   * out(l, o) = Σ_p P[p·ldp + l] · S[p·ssp + o·sso], fold over p = 0..k-1, for l in [l0, l1)
   * (the SIMD lanes, contiguous in P) and o in [o0, o1); out(l, o) is out[l·osl + o·oso].
   */
  void (*gemmLanes)(float* out, int64_t osl, int64_t oso, const float* p, int64_t ldp, const float* s, int64_t ssp,
                    int64_t sso, int64_t k, int64_t l0, int64_t l1, int64_t o0, int64_t o1);

  /**
   * Ternary forward for rows [r0, r1) × output columns [j0, j1):
   * out[r, j] = float(double(Σ_p q[r,p]·w[j,p]) · rowScale[r]), the sum exact in int32.
   */
  void (*ternaryRows)(float* out, const int8_t* q, const float* rowScale, const int8_t* w, int64_t k, int64_t n,
                      int64_t r0, int64_t r1, int64_t j0, int64_t j1);

  /**
   * Ternary input gradient for rows [r0, r1) × input columns [c0, c1):
   * acc = fold over j of (w[j,c] > 0 ? dy[r,j] : w[j,c] < 0 ? −dy[r,j] : skip);
   * out[r, c] = float(double(acc) · gamma).
   */
  void (*ternaryTRows)(float* out, const float* dy, const int8_t* w, double gamma, int64_t k, int64_t n, int64_t r0,
                       int64_t r1, int64_t c0, int64_t c1);

  /**
   * Attention forward for rows i in [i0, i1) of head h. kT is k transposed per head:
   * kT[(h·headDim + d)·t + j] = k[j·width + h·headDim + d].
   */
  void (*attnForwardRows)(float* out, float* probs, const float* q, const float* kT, const float* v, int64_t t,
                          int64_t heads, int64_t headDim, double scale, int64_t h, int64_t i0, int64_t i1);

  /**
   * Attention backward, phase 1, rows i in [i0, i1) of head h: g[h, i, j] for j ≤ i (into the
   * [heads, t, t] scratch g) and dq_i. vT is v transposed per head, like kT.
   */
  void (*attnBackwardRows)(float* dq, float* g, const float* dout, const float* probs, const float* k,
                           const float* vT, int64_t t, int64_t heads, int64_t headDim, double scale, int64_t h,
                           int64_t i0, int64_t i1);

  /** Attention backward, phase 2, key rows j in [j0, j1) of head h: dk_j and dv_j. */
  void (*attnBackwardCols)(float* dk, float* dv, const float* g, const float* dout, const float* probs,
                           const float* q, int64_t t, int64_t heads, int64_t headDim, int64_t h, int64_t j0,
                           int64_t j1);

  /** Bench helper: a checksum of bytes [b0, b1) read with the widest loads (a bandwidth probe). */
  uint64_t (*streamRead)(const uint8_t* data, int64_t b0, int64_t b1);
};

const IsaTable* isaTableScalar();
const IsaTable* isaTableAvx2();
const IsaTable* isaTableAvx512();

}  // namespace cpu
}  // namespace r3mes
