#!/usr/bin/env bash
# Builds the CUDA backend with nvcc, without Node (so a GPU machine without Node can build and
# check it too):
#   build/libr3mes_cuda.so      the `cuda` backend, opened at run time by the Node-API addon
#   build/r3mes_cuda_harness    the standalone golden-case and benchmark runner (CPU and GPU)
#
#   bash native-cuda/build-cuda.sh            (also: npm run build:cuda)
#   R3MES_CUDA_ARCH=sm_90 bash ...            target another architecture (default: the GPU
#                                             present, else sm_90 with compute_80 PTX)
#
# Determinism flags: --fmad=false (no contraction of a·b + c into FMA), IEEE division and square
# root, denormals kept; the host side gets the CPU backend's -ffp-contract=off -fno-fast-math.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/src"
out="$here/build"
obj="$out/obj-cuda"
nvcc="${NVCC:-nvcc}"
cxx="${CXX:-g++}"

if ! command -v "$nvcc" >/dev/null 2>&1; then
  echo "r3mes: CUDA backend not built (no nvcc on PATH)"
  exit 0
fi
mkdir -p "$obj"

if [[ -n "${R3MES_CUDA_ARCH:-}" ]]; then
  arch=(-arch="$R3MES_CUDA_ARCH")
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  arch=(-arch=native)
else
  arch=(-gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80)
fi

hostflags="-O3 -fPIC -fvisibility=hidden -ffp-contract=off -fno-fast-math"
nvflags=(-std=c++17 -O3 "${arch[@]}" --fmad=false --prec-div=true --prec-sqrt=true --ftz=false
  -Xcompiler "$hostflags" -Xcompiler -Wall)

pids=()
for unit in context blas kernels ternary bench table; do
  "$nvcc" "${nvflags[@]}" -c "$src/cuda/$unit.cu" -o "$obj/$unit.o" &
  pids+=($!)
done
# The CPU kernels for the harness, with the flags of build.mjs.
cpuflags=(-std=c++17 -O3 -fPIC -ffp-contract=off -fno-fast-math)
"$cxx" "${cpuflags[@]}" -c "$src/cpu/dispatch.cpp" -o "$obj/cpu_dispatch.o" &
pids+=($!)
"$cxx" "${cpuflags[@]}" -c "$src/cpu/isa_scalar.cpp" -o "$obj/cpu_isa_scalar.o" &
pids+=($!)
"$cxx" "${cpuflags[@]}" -c "$src/cpu/table.cpp" -o "$obj/cpu_table.o" &
pids+=($!)
cpuobjs=("$obj/cpu_dispatch.o" "$obj/cpu_isa_scalar.o" "$obj/cpu_table.o")
if [[ "$(uname -m)" == "x86_64" ]]; then
  "$cxx" "${cpuflags[@]}" -mavx2 -c "$src/cpu/isa_avx2.cpp" -o "$obj/cpu_isa_avx2.o" &
  pids+=($!)
  "$cxx" "${cpuflags[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mbmi2 -c "$src/cpu/isa_avx512.cpp" \
    -o "$obj/cpu_isa_avx512.o" &
  pids+=($!)
  cpuobjs+=("$obj/cpu_isa_avx2.o" "$obj/cpu_isa_avx512.o")
fi
"$cxx" "${cpuflags[@]}" -c "$here/harness/harness.cpp" -I"$src" -o "$obj/harness.o" &
pids+=($!)
"$cxx" "${cpuflags[@]}" -c "$here/harness/golden_cases.cpp" -I"$src" -o "$obj/golden_cases.o" &
pids+=($!)
"$cxx" "${cpuflags[@]}" -c "$here/harness/sha256.cpp" -o "$obj/sha256.o" &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done

"$nvcc" "${arch[@]}" -shared -o "$out/libr3mes_cuda.so.tmp" "$obj"/{context,blas,kernels,ternary,bench,table}.o -ldl
mv "$out/libr3mes_cuda.so.tmp" "$out/libr3mes_cuda.so"
"$cxx" -O3 -o "$out/r3mes_cuda_harness" "$obj"/harness.o "$obj"/golden_cases.o "$obj"/sha256.o "${cpuobjs[@]}" \
  -pthread -ldl
rm -rf "$obj"
echo "r3mes: built CUDA backend native-cuda/build/libr3mes_cuda.so and native-cuda/build/r3mes_cuda_harness"
