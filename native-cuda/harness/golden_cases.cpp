// See golden_cases.h. Each case function follows its TypeScript twin line by line; the comments
// name the places where JavaScript evaluation order fixes the order of the draws.
#include "golden_cases.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "fmath.h"
#include "sha256.h"

namespace {

namespace fm = r3mes_fmath;

const char* const kKinds[] = {"matmul",    "ternary", "rmsnorm", "rope",   "attention", "elementwise",
                              "crossEntropy", "adamw", "aggregate", "fmath", "stage",    "pretrainStep"};
constexpr int kKindCount = 12;

// ---------------------------------------------------------------------------------------------
// Philox4x32-10 and the key derivation of src/ml/prng.ts.

struct Key {
  uint32_t k0, k1;
};

void philox(const Key& key, const uint32_t counter[4], uint32_t out[4]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int round = 0; round < 10; round++) {
    const uint64_t p0 = uint64_t{0xd2511f53u} * c0;
    const uint64_t p1 = uint64_t{0xcd9e8d57u} * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9e3779b9u;
    k1 += 0xbb67ae85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

Key deriveKey(const std::string& seed, const std::string& purpose) {
  Sha256 h;
  h.update(std::string("r3mes/prng/1", 12)).update("\0", 1).update(purpose).update("\0", 1).update(seed);
  uint8_t d[32];
  h.digest(d);
  const uint32_t k0 = uint32_t{d[0]} | uint32_t{d[1]} << 8 | uint32_t{d[2]} << 16 | uint32_t{d[3]} << 24;
  const uint32_t k1 = uint32_t{d[4]} | uint32_t{d[5]} << 8 | uint32_t{d[6]} << 16 | uint32_t{d[7]} << 24;
  return Key{k0, k1};
}

class Inputs {
 public:
  explicit Inputs(int index) : key_(deriveKey("golden", "case-" + std::to_string(index))) {}

  uint32_t nextU32() {
    if (left_ == 0) {
      const uint32_t counter[4] = {block_, 0, 0, 0};
      philox(key_, counter, buf_);
      block_++;
      left_ = 4;
    }
    return buf_[4 - left_--];
  }
  /** A float32 uniform in [−1, 1), exact. */
  double nextSignedUnit() { return (static_cast<double>(nextU32() >> 8) - 8388608.0) / 8388608.0; }
  int nextInt(uint32_t bound) {
    const uint64_t limit = (uint64_t{1} << 32) - ((uint64_t{1} << 32) % bound);
    for (;;) {
      const uint32_t x = nextU32();
      if (x < limit) return static_cast<int>(x % bound);
    }
  }
  int integer(int lo, int hi) { return lo + nextInt(static_cast<uint32_t>(hi - lo + 1)); }
  std::vector<float> floats(int n, double scale = 1) {
    std::vector<float> out(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) {
      const double u = nextSignedUnit();
      const uint32_t r = nextU32() & 63;
      out[i] = r == 0 ? 0.0f : r == 1 ? -0.0f : static_cast<float>(u * scale);
    }
    return out;
  }
  std::vector<int8_t> ternary(int n) {
    std::vector<int8_t> out(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) out[i] = static_cast<int8_t>(nextInt(3) - 1);
    return out;
  }
  std::vector<uint8_t> bytes(int n, int bound) {
    std::vector<uint8_t> out(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) out[i] = static_cast<uint8_t>(nextInt(static_cast<uint32_t>(bound)));
    return out;
  }

 private:
  Key key_;
  uint32_t block_ = 0;
  uint32_t buf_[4] = {};
  int left_ = 0;
};

float f32(double x) { return static_cast<float>(x); }

/** Named outputs, hashed in name order: name, NUL, then the raw little-endian bytes. */
class Outputs {
 public:
  template <typename T>
  void set(const std::string& name, const std::vector<T>& v) {
    entries_[name] = std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  void set(const std::string& name, float v) { entries_[name] = std::string(reinterpret_cast<const char*>(&v), 4); }
  std::string hash() const {
    Sha256 h;
    for (const auto& [name, bytes] : entries_) h.update(name).update("\0", 1).update(bytes);
    return h.hex();
  }

 private:
  std::map<std::string, std::string> entries_;  // std::map iterates in byte order, as JS sort() does for ASCII
};

// ---------------------------------------------------------------------------------------------
// The cases.

void matmulCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int m = x.integer(1, 24);
  const int k = x.integer(1, 40);
  const int n = x.integer(1, 24);
  const auto a = x.floats(m * k, 4);
  const auto b = x.floats(k * n, 4);
  std::vector<float> nt(m * n), nn(m * n), tn(m * n);
  K.matmulNT(nt.data(), a.data(), b.data(), m, k, n);
  K.matmulNN(nn.data(), a.data(), b.data(), m, k, n);
  const auto a2 = x.floats(k * m, 2);
  K.matmulTN(tn.data(), a2.data(), b.data(), k, m, n);
  out.set("nt", nt);
  out.set("nn", nn);
  out.set("tn", tn);
}

void ternaryCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int t = x.integer(1, 12);
  const int k = x.integer(1, 70);
  const int n = x.integer(1, 40);
  const double actScale = x.integer(0, 1) == 0 ? 1 : 300;  // drawn before the floats
  const auto act = x.floats(t * k, actScale);
  std::vector<int8_t> q(t * k);
  std::vector<float> inv(t);
  K.quantizeRows(q.data(), inv.data(), act.data(), t, k);
  const auto w = x.ternary(n * k);
  const double gamma = f32(std::fabs(x.nextSignedUnit()) + static_cast<double>(f32(0.01)));
  std::vector<float> y(t * n);
  K.ternaryMatmul(y.data(), q.data(), inv.data(), w.data(), gamma, t, k, n);
  std::vector<float> dx(t * k);
  const auto dy = x.floats(t * n);
  K.ternaryMatmulT(dx.data(), dy.data(), w.data(), gamma, t, k, n);
  out.set("q", q);
  out.set("inv", inv);
  out.set("y", y);
  out.set("dx", dx);
}

void rmsnormCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int rows = x.integer(1, 10);
  const int cols = x.integer(1, 80);
  const auto input = x.floats(rows * cols, 3);
  const auto g = x.floats(cols, 2);
  std::vector<float> y(rows * cols), inv(rows);
  K.rmsnormForward(y.data(), inv.data(), input.data(), g.data(), rows, cols, static_cast<double>(f32(1e-5)));
  std::vector<float> dx(rows * cols);
  auto dg = x.floats(cols, 0.1);
  const auto dy = x.floats(rows * cols);
  K.rmsnormBackward(dx.data(), dg.data(), input.data(), g.data(), inv.data(), dy.data(), rows, cols);
  out.set("y", y);
  out.set("inv", inv);
  out.set("dx", dx);
  out.set("dg", dg);
}

void ropeCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int t = x.integer(1, 16);
  const int heads = x.integer(1, 4);
  const int headDim = 2 * x.integer(1, 8);
  const int half = headDim / 2;
  std::vector<float> cos(t * half), sin(t * half);
  for (size_t i = 0; i < cos.size(); i++) {
    const float angle = f32(x.nextSignedUnit() * 50);
    cos[i] = fm::cosf(angle);
    sin[i] = fm::sinf(angle);
  }
  auto v = x.floats(t * heads * headDim, 2);
  K.rope(v.data(), cos.data(), sin.data(), t, heads, headDim, false);
  const auto forward = v;
  K.rope(v.data(), cos.data(), sin.data(), t, heads, headDim, true);
  out.set("cos", cos);
  out.set("sin", sin);
  out.set("forward", forward);
  out.set("inverse", v);
}

void attentionCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int t = x.integer(1, 12);
  const int heads = x.integer(1, 3);
  const int headDim = x.integer(1, 10);
  const int w = heads * headDim;
  const auto q = x.floats(t * w, 2);
  const auto k = x.floats(t * w, 2);
  const auto v = x.floats(t * w, 2);
  const double scale = fm::rsqrtf(static_cast<float>(headDim));
  std::vector<float> o(t * w), probs(heads * t * t);
  K.attentionForward(o.data(), probs.data(), q.data(), k.data(), v.data(), t, heads, headDim, scale);
  std::vector<float> dq(t * w), dk(t * w), dv(t * w);
  const auto dout = x.floats(t * w);
  K.attentionBackward(dq.data(), dk.data(), dv.data(), dout.data(), probs.data(), q.data(), k.data(), v.data(), t,
                      heads, headDim, scale);
  out.set("o", o);
  out.set("probs", probs);
  out.set("dq", dq);
  out.set("dk", dk);
  out.set("dv", dv);
}

void elementwiseCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int n = x.integer(1, 200);
  const auto a = x.floats(n, 5);
  std::vector<float> y(n), dx(n), s(n);
  K.relu2Forward(y.data(), a.data(), n);
  const auto dy = x.floats(n);
  K.relu2Backward(dx.data(), a.data(), dy.data(), n);
  const auto b = x.floats(n);  // drawn before the scale: JS evaluates arguments left to right
  const double scale = f32(x.nextSignedUnit() * 3);
  K.addScaled(s.data(), a.data(), b.data(), scale, n);
  out.set("relu2", y);
  out.set("drelu2", dx);
  out.set("addScaled", s);
}

void crossEntropyCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int t = x.integer(1, 10);
  const int vocab = x.integer(2, 300);
  const double scale = x.integer(0, 1) == 0 ? 3 : 60;
  const auto logits = x.floats(t * vocab, scale);
  const auto targetBytes = x.bytes(t, vocab < 256 ? vocab : 256);
  const std::vector<int32_t> targets(targetBytes.begin(), targetBytes.end());
  std::vector<float> d(t * vocab);
  const float loss = K.crossEntropy(d.data(), logits.data(), targets.data(), t, vocab);
  out.set("loss", loss);
  out.set("dlogits", d);
}

void adamwCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int n = x.integer(1, 100);
  auto p = x.floats(n);
  auto m = x.floats(n, 0.1);
  auto v = x.floats(n, 0.01);
  for (float& e : v) e = std::fabs(e);
  const float beta1 = f32(0.9);
  const float beta2 = f32(0.999);
  float pow1 = 1;
  float pow2 = 1;
  for (int step = 0; step < 3; step++) {
    pow1 = pow1 * beta1;
    pow2 = pow2 * beta2;
    const auto g = x.floats(n);
    K.adamw(p.data(), m.data(), v.data(), g.data(), n, f32(1e-3), beta1, beta2, f32(1e-8), f32(0.01),
            f32(1.0 - static_cast<double>(pow1)), f32(1.0 - static_cast<double>(pow2)));
  }
  out.set("p", p);
  out.set("m", m);
  out.set("v", v);
}

void aggregateCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int parts = x.integer(1, 5);
  const int n = x.integer(1, 50);
  std::vector<std::vector<float>> a, b;
  std::vector<int> tokens;
  for (int i = 0; i < parts; i++) {
    a.push_back(x.floats(n));
    b.push_back(x.floats(3));
    tokens.push_back(x.integer(1, 5000));
  }
  double total = 0;
  for (int tk : tokens) total += tk;
  std::vector<float> coef;
  for (int tk : tokens) coef.push_back(f32(tk / total));
  for (const auto& [name, grads, len] :
       {std::make_tuple("agg.a", &a, n), std::make_tuple("agg.b", &b, 3)}) {
    std::vector<const float*> ptrs;
    for (const auto& g : *grads) ptrs.push_back(g.data());
    std::vector<float> sum(len);
    K.weightedSum(sum.data(), ptrs.data(), coef.data(), parts, len);
    out.set(name, sum);
  }
}

/** Host-side transcendentals as in golden.ts; exp and log also go through the backend's fmathMap. */
void fmathCase(const R3mesKernelTable& K, Inputs& x, Outputs& out) {
  const int n = 64;
  std::vector<float> ein(n), lin(n), e(n), l(n), s(n), c(n);
  for (int i = 0; i < n; i++) {
    const double u = x.nextSignedUnit();
    ein[i] = f32(u * 110);
    lin[i] = f32(std::fabs(u) * std::ldexp(1.0, x.integer(-140, 120)));
    s[i] = fm::sinf(f32(u * 1000));
    c[i] = fm::cosf(f32(u * 1000));
  }
  K.fmathMap(e.data(), ein.data(), n, 0);
  K.fmathMap(l.data(), lin.data(), n, 1);
  out.set("exp", e);
  out.set("log", l);
  out.set("sin", s);
  out.set("cos", c);
}

using Runner = void (*)(const R3mesKernelTable&, Inputs&, Outputs&);
const Runner kRunners[kKindCount] = {matmulCase,       ternaryCase, rmsnormCase,   ropeCase,  attentionCase,
                                     elementwiseCase,  crossEntropyCase, adamwCase, aggregateCase, fmathCase,
                                     nullptr,          nullptr};

}  // namespace

const char* goldenKind(int index) { return kKinds[index % kKindCount]; }

bool goldenCaseSupported(int index) { return kRunners[index % kKindCount] != nullptr; }

std::string runGoldenCase(const R3mesKernelTable& kernels, int index) {
  Inputs x(index);
  Outputs out;
  kRunners[index % kKindCount](kernels, x, out);
  return out.hash();
}
