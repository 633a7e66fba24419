// Splitting a kernel's outputs across threads. Each output is computed by exactly one thread in
// its canonical order, so the bits do not depend on the thread count or on scheduling.
#pragma once

#include <cstdint>
#include <functional>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace r3mes {
namespace cpu {

/**
 * Puts this thread's SSE control register in IEEE mode for the guard's lifetime: round to
 * nearest, subnormals kept (no flush-to-zero, no denormals-are-zero), exceptions masked. Other
 * code in the process (another addon, a fast-math library) could have changed it, and a
 * flushed subnormal would change the bits.
 */
class IeeeFloatMode {
 public:
#if defined(__x86_64__) || defined(__i386__)
  IeeeFloatMode() : saved_(_mm_getcsr()) { _mm_setcsr(0x1F80); }
  ~IeeeFloatMode() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

/**
 * Calls body(begin, end) over chunks of [0, items) of `chunk` items each, from up to
 * threadCount() threads (chunks are claimed dynamically). Runs inline when the work
 * (items × costPerItem, in rough multiply-adds) is too small to pay for starting threads.
 */
void parallelFor(int64_t items, int64_t chunk, double costPerItem, const std::function<void(int64_t, int64_t)>& body);

}  // namespace cpu
}  // namespace r3mes
