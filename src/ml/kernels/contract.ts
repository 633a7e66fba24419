/**
 * The kernel contract: every numeric operation of the model, with its canonical order.
 *
 * A backend (`ts` reference, `cpu` native, later `cuda`) implements exactly these functions and
 * must produce the same bits as the reference for every input. The rules that make this
 * possible:
 *
 * - Float32 everywhere; every + − × ÷ is rounded to float32 on its own (no FMA contraction,
 *   no fast-math, no extended precision).
 * - **Canonical reduction order**: every sum (dot products, row sums, matrix products) is a
 *   left fold `acc = 0; for i = 0 .. n-1: acc = acc + term_i` in increasing index order, with
 *   each term rounded before it is added. Backends may compute *different outputs* in parallel
 *   or in SIMD lanes, but never reassociate the terms of one output.
 * - Ternary × int8 products accumulate in int32, which is exact in any order, so those kernels
 *   may use any order, tiling or instruction.
 * - Transcendentals come from `../fmath.ts` (exp, log, rsqrt), never a library.
 *
 * Layout: row-major, flat typed arrays; dimensions are passed explicitly. Every kernel writes
 * into a caller-provided output and allocates nothing, so native backends need no allocator.
 */

export type BackendName = 'ts' | 'cpu' | 'cuda'

export interface Kernels {
  readonly name: BackendName

  /** out[m,n] = Σ_k a[m,k]·b[n,k]  (b holds one row per output column, e.g. a weight [out,in]). */
  matmulNT(out: Float32Array, a: Float32Array, b: Float32Array, m: number, k: number, n: number): void
  /** out[m,n] = Σ_k a[m,k]·b[k,n]. */
  matmulNN(out: Float32Array, a: Float32Array, b: Float32Array, m: number, k: number, n: number): void
  /** out[m,n] = Σ_k a[k,m]·b[k,n]  (e.g. a weight gradient dyᵀ·x). */
  matmulTN(out: Float32Array, a: Float32Array, b: Float32Array, k: number, m: number, n: number): void

  /**
   * Per-row absmax int8 quantization (BitNet activations). For each row:
   * amax = max(max_i |x_i|, 1e-5); r = 127 / amax; q_i = clamp(roundHalfAway(x_i·r), −127, 127);
   * invScale[row] = 1 / r (so that x ≈ q · invScale).
   */
  quantizeRows(q: Int8Array, invScale: Float32Array, x: Float32Array, rows: number, cols: number): void

  /**
   * BitLinear forward: out[t,n] = float(Σ_k q[t,k]·w[n,k]) · (gamma · invScale[t]), where the
   * integer sum is exact (int32) and `gamma·invScale[t]` is rounded once per row.
   * w holds ternary values in {−1, 0, +1}.
   */
  ternaryMatmul(
    out: Float32Array,
    q: Int8Array,
    invScale: Float32Array,
    w: Int8Array,
    gamma: number,
    t: number,
    k: number,
    n: number,
  ): void

  /**
   * BitLinear input gradient (straight-through): out[t,k] = (Σ_n w[n,k]·dy[t,n]) · gamma,
   * the sum in increasing n (each term is exactly ±dy or 0).
   */
  ternaryMatmulT(
    out: Float32Array,
    dy: Float32Array,
    w: Int8Array,
    gamma: number,
    t: number,
    k: number,
    n: number,
  ): void

  /**
   * RMSNorm: ss = Σ_i x_i²; inv = rsqrt(ss / cols + eps); y_i = (x_i · inv) · g_i.
   * invRms[row] = inv is kept for the backward pass.
   */
  rmsnormForward(
    y: Float32Array,
    invRms: Float32Array,
    x: Float32Array,
    g: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void

  /**
   * RMSNorm backward. Per row: xh_i = x_i·inv; dot = Σ_i (dy_i·g_i)·xh_i; c = dot / cols;
   * dx_i = (dy_i·g_i − xh_i·c) · inv. dg_i += Σ_rows dy_i·xh_i (rows in increasing order,
   * added onto dg's existing value); pass `dg = null` when gains are frozen.
   */
  rmsnormBackward(
    dx: Float32Array,
    dg: Float32Array | null,
    x: Float32Array,
    g: Float32Array,
    invRms: Float32Array,
    dy: Float32Array,
    rows: number,
    cols: number,
  ): void

  /**
   * Rotary embedding in place over x[t, heads·headDim], interleaved pairs (2i, 2i+1), position =
   * row index: (a, b) → (a·c − b·s, a·s + b·c), with cos/sin from tables [t, headDim/2].
   * `inverse` applies the transpose rotation (the backward pass): (a·c + b·s, b·c − a·s).
   */
  rope(
    x: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    t: number,
    heads: number,
    headDim: number,
    inverse: boolean,
  ): void

  /**
   * Causal multi-head attention. q, k, v, out: [t, heads·headDim]; probs: [heads, t, t]
   * (row i holds p_ij for j ≤ i, zeros above the diagonal). For head h, row i:
   * s_j = (q_i·k_j)·scale for j ≤ i; m = max_j s_j; e_j = exp(s_j − m); z = Σ_j e_j;
   * p_j = e_j / z; out_i = Σ_j p_j·v_j (each output element a fold over j).
   */
  attentionForward(
    out: Float32Array,
    probs: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    t: number,
    heads: number,
    headDim: number,
    scale: number,
  ): void

  /**
   * Attention backward, per head: dp_ij = dout_i·v_j; ds_ij = p_ij·(dp_ij − Σ_{j'≤i} p_ij'·dp_ij');
   * g_ij = ds_ij·scale; dq_i = Σ_{j≤i} g_ij·k_j; dk_j = Σ_{i≥j} g_ij·q_i; dv_j = Σ_{i≥j} p_ij·dout_i.
   * Sums over i run in increasing i. Outputs are overwritten.
   */
  attentionBackward(
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dout: Float32Array,
    probs: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    t: number,
    heads: number,
    headDim: number,
    scale: number,
  ): void

  /** Squared ReLU: y = x > 0 ? x·x : 0. */
  relu2Forward(y: Float32Array, x: Float32Array): void
  /** dx = x > 0 ? dy·(2·x) : 0. */
  relu2Backward(dx: Float32Array, x: Float32Array, dy: Float32Array): void

  /** out = a + b·scale (elementwise; `scale` 1 is a plain add, and b·1 is exact). */
  addScaled(out: Float32Array, a: Float32Array, b: Float32Array, scale: number): void

  /**
   * Softmax cross-entropy over logits [t, vocab] and integer targets (token ids, 0 ≤ id < vocab).
   * Per row: m = max;
   * z = Σ_j exp(l_j − m); lse = m + log z; loss_row = lse − l_target; p_j = exp(l_j − m) / z;
   * dlogits_j = (p_j − [j = target]) / t. Returns Σ_rows loss_row / t (fold over rows).
   */
  crossEntropy(dlogits: Float32Array, logits: Float32Array, targets: Int32Array, t: number, vocab: number): number

  /**
   * AdamW, elementwise: m = β1·m + (1−β1)·g; v = β2·v + ((1−β2)·g)·g; mh = m / bc1; vh = v / bc2;
   * p = p − lr·(mh / (sqrt(vh) + eps) + wd·p). bc1 = 1 − β1^step and bc2 = 1 − β2^step are
   * computed by the caller (powers by repeated float32 multiplication).
   */
  adamw(
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    bc1: number,
    bc2: number,
  ): void

  /**
   * Weighted sum of gradients in the given order: out_j = Σ_i coef_i·grads_i[j] (fold over i).
   * The caller derives coef_i = tokens_i / Σ tokens, rounded once, and fixes the order.
   */
  weightedSum(out: Float32Array, grads: readonly Float32Array[], coef: Float32Array): void
}
