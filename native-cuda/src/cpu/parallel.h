// Splitting a kernel's outputs across threads. Each output is computed by exactly one thread in
// its canonical order, so the bits do not depend on the thread count or on scheduling.
#pragma once

#include <cstdint>
#include <functional>

namespace r3mes {
namespace cpu {

/**
 * Calls body(begin, end) over chunks of [0, items) of `chunk` items each, from up to
 * threadCount() threads (chunks are claimed dynamically). Runs inline when the work
 * (items × costPerItem, in rough multiply-adds) is too small to pay for starting threads.
 */
void parallelFor(int64_t items, int64_t chunk, double costPerItem, const std::function<void(int64_t, int64_t)>& body);

}  // namespace cpu
}  // namespace r3mes
