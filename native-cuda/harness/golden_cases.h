// The kernel-level golden cases of src/ml/golden.ts, rebuilt in C++ from their index: the same
// Philox draws in the same order, the same kernel calls, the same SHA-256 over the named
// outputs. A case runs on any backend given as a kernel table (../src/kernel_table.h), so the
// harness can hash the CPU and the CUDA backends and compare both with the committed hashes.
//
// Covered kinds: matmul, ternary, rmsnorm, rope, attention, elementwise, crossEntropy, adamw,
// aggregate, fmath. The model-level kinds (stage, pretrainStep) need the whole model and are
// checked by `r3mes ml check` in TypeScript instead.
#pragma once

#include <string>

#include "kernel_table.h"

/** The kind of case i (golden.ts GOLDEN_KINDS, rotating). */
const char* goldenKind(int index);
/** Whether this harness can run case i. */
bool goldenCaseSupported(int index);
/** Runs case i on `kernels` and returns the hex SHA-256 of its outputs. */
std::string runGoldenCase(const R3mesKernelTable& kernels, int index);
