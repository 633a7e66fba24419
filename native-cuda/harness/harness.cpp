// r3mes_cuda_harness: the golden cases and the GPU benchmarks without Node, for machines that
// have a GPU and a C++ toolchain but no JavaScript runtime.
//
//   r3mes_cuda_harness golden [--cases N] [--hashes FILE] [--verbose]
//       runs cases 0..N-1 (default 1000) of the kinds it covers on the CPU backend and, when a
//       GPU is present, on the CUDA backend; prints each case's SHA-256 per backend and a
//       summary of mismatches with each other and with the committed hashes (FILE, default
//       src/ml/golden-hashes.json). Exit status 1 on any mismatch.
//   r3mes_cuda_harness bench [--quick]
//       the GPU benchmarks (see src/cuda/bench.cu) as one JSON object.
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "golden_cases.h"
#include "kernel_table.h"
#include "kernels.h"
#include "sha256.h"

namespace {

namespace cpu = r3mes::cpu;

std::string exeDir() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  path[n] = 0;
  std::string s(path);
  const size_t slash = s.rfind('/');
  return slash == std::string::npos ? "." : s.substr(0, slash);
}

struct Cuda {
  const R3mesKernelTable* table = nullptr;
  R3mesCudaBenchFn bench = nullptr;
  std::string description;
};

Cuda openCuda() {
  Cuda c;
  const std::string path = exeDir() + "/libr3mes_cuda.so";
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    c.description = std::string("cannot open ") + path + ": " + dlerror();
    return c;
  }
  auto open = reinterpret_cast<R3mesCudaOpenFn>(dlsym(lib, "r3mes_cuda_open"));
  c.bench = reinterpret_cast<R3mesCudaBenchFn>(dlsym(lib, "r3mes_cuda_bench"));
  if (open == nullptr) {
    c.description = "libr3mes_cuda.so lacks r3mes_cuda_open";
    return c;
  }
  char reason[512] = {};
  c.table = open(reason, sizeof reason);
  c.description = reason;
  if (c.table != nullptr && c.table->version != R3MES_KERNEL_TABLE_VERSION) {
    c.description = "libr3mes_cuda.so has another kernel table version";
    c.table = nullptr;
  }
  return c;
}

/** The 64-hex strings of the "cases" array, in order. */
std::vector<std::string> readGoldenHashes(const std::string& file) {
  std::ifstream in(file);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> out;
  size_t pos = text.find("\"cases\"");
  if (pos == std::string::npos) return {};
  pos += 7;
  for (;;) {
    const size_t q = text.find('"', pos);
    if (q == std::string::npos) break;
    const size_t e = text.find('"', q + 1);
    if (e == std::string::npos) break;
    const std::string s = text.substr(q + 1, e - q - 1);
    if (s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos) out.push_back(s);
    pos = e + 1;
  }
  return out;
}

int golden(int cases, const std::string& hashFile, bool verbose) {
  const std::vector<std::string> golden = readGoldenHashes(hashFile);
  if (golden.empty()) {
    std::fprintf(stderr, "no golden hashes read from %s\n", hashFile.c_str());
    return 2;
  }
  if (cases > static_cast<int>(golden.size())) cases = static_cast<int>(golden.size());
  const Cuda cuda = openCuda();
  std::printf("cpu: %s; cuda: %s%s\n", cpu::isaName(cpu::currentIsa()), cuda.table ? "" : "unavailable, ",
              cuda.description.c_str());
  int run = 0, skipped = 0, cpuBad = 0, cudaBad = 0, cudaRun = 0;
  double cpuSeconds = 0, cudaSeconds = 0;
  for (int i = 0; i < cases; i++) {
    if (!goldenCaseSupported(i)) {
      skipped++;
      continue;
    }
    run++;
    auto t0 = std::chrono::steady_clock::now();
    const std::string h = runGoldenCase(*cpu::kernelTable(), i);
    cpuSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool cpuOk = h == golden[i];
    if (!cpuOk) cpuBad++;
    std::string hc = "-";
    bool cudaOk = true;
    if (cuda.table != nullptr) {
      t0 = std::chrono::steady_clock::now();
      try {
        hc = runGoldenCase(*cuda.table, i);
      } catch (const std::exception& e) {
        hc = std::string("error: ") + e.what();
      }
      cudaSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cudaRun++;
      cudaOk = hc == golden[i];
      if (!cudaOk) cudaBad++;
    }
    if (verbose || !cpuOk || !cudaOk) {
      std::printf("case %4d %-12s golden %s cpu %s cuda %s%s\n", i, goldenKind(i), golden[i].c_str(), h.c_str(),
                  hc.c_str(), cpuOk && cudaOk ? "" : "  MISMATCH");
    }
  }
  std::printf(
      "{\"cases\":%d,\"run\":%d,\"skippedModelLevel\":%d,\"cpuMismatches\":%d,\"cudaRun\":%d,\"cudaMismatches\":%d,"
      "\"cpuSeconds\":%.3f,\"cudaSeconds\":%.3f}\n",
      cases, run, skipped, cpuBad, cudaRun, cudaBad, cpuSeconds, cudaSeconds);
  return cpuBad == 0 && cudaBad == 0 ? 0 : 1;
}

int bench(bool quick) {
  const Cuda cuda = openCuda();
  if (cuda.table == nullptr || cuda.bench == nullptr) {
    std::fprintf(stderr, "no CUDA backend: %s\n", cuda.description.c_str());
    return 2;
  }
  std::vector<char> json(1 << 16);
  const int rc = cuda.bench(cpu::kernelTable(), json.data(), static_cast<int>(json.size()), quick ? 1 : 0);
  std::printf("%s\n", json.data());
  return rc == 0 ? 0 : 1;
}

bool sha256SelfTest() {
  Sha256 h;
  h.update("abc");
  return h.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
}

}  // namespace

int main(int argc, char** argv) {
  if (!sha256SelfTest()) {
    std::fprintf(stderr, "SHA-256 self-test failed\n");
    return 2;
  }
  const std::string cmd = argc > 1 ? argv[1] : "";
  int cases = 1000;
  bool quick = false;
  bool verbose = false;
  std::string hashes = "src/ml/golden-hashes.json";
  for (int i = 2; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--cases" && i + 1 < argc) {
      cases = std::atoi(argv[++i]);
    } else if (a == "--hashes" && i + 1 < argc) {
      hashes = argv[++i];
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--verbose") {
      verbose = true;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 64;
    }
  }
  if (cmd == "golden") return golden(cases, hashes, verbose);
  if (cmd == "bench") return bench(quick);
  std::fprintf(stderr, "usage: r3mes_cuda_harness golden [--cases N] [--hashes FILE] [--verbose] | bench [--quick]\n");
  return 64;
}
