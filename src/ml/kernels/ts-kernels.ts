/**
 * The reference backend: the kernel contract (contract.ts) in plain TypeScript, one float32
 * rounding per operation. Written for clarity; every other backend is checked against it.
 */
import { expf, logf, roundHalfAway, rsqrtf } from '../fmath.ts'
import type { Kernels } from './contract.ts'

const f = Math.fround

export const tsKernels: Kernels = {
  name: 'ts',

  matmulNT(out, a, b, m, k, n) {
    for (let i = 0; i < m; i++) {
      const ai = i * k
      for (let j = 0; j < n; j++) {
        const bj = j * k
        let acc = 0
        for (let p = 0; p < k; p++) acc = f(acc + f((a[ai + p] as number) * (b[bj + p] as number)))
        out[i * n + j] = acc
      }
    }
  },

  matmulNN(out, a, b, m, k, n) {
    for (let i = 0; i < m; i++) {
      const ai = i * k
      for (let j = 0; j < n; j++) {
        let acc = 0
        for (let p = 0; p < k; p++) acc = f(acc + f((a[ai + p] as number) * (b[p * n + j] as number)))
        out[i * n + j] = acc
      }
    }
  },

  matmulTN(out, a, b, k, m, n) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0
        for (let p = 0; p < k; p++) acc = f(acc + f((a[p * m + i] as number) * (b[p * n + j] as number)))
        out[i * n + j] = acc
      }
    }
  },

  quantizeRows(q, invScale, x, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols
      let amax = 0
      for (let i = 0; i < cols; i++) {
        const a = Math.abs(x[base + i] as number)
        if (a > amax) amax = a
      }
      if (!(amax >= 1e-5)) amax = f(1e-5)
      const scale = f(127 / amax)
      for (let i = 0; i < cols; i++) {
        const v = roundHalfAway(f((x[base + i] as number) * scale))
        q[base + i] = Math.min(127, Math.max(-127, v))
      }
      invScale[r] = f(1 / scale)
    }
  },

  ternaryMatmul(out, q, invScale, w, gamma, t, k, n) {
    for (let r = 0; r < t; r++) {
      const qr = r * k
      const s = f(gamma * (invScale[r] as number))
      for (let j = 0; j < n; j++) {
        const wj = j * k
        let acc = 0
        for (let p = 0; p < k; p++) acc += (q[qr + p] as number) * (w[wj + p] as number)
        out[r * n + j] = f(acc * s)
      }
    }
  },

  ternaryMatmulT(out, dy, w, gamma, t, k, n) {
    for (let r = 0; r < t; r++) {
      const dr = r * n
      for (let c = 0; c < k; c++) {
        let acc = 0
        for (let j = 0; j < n; j++) {
          const wv = w[j * k + c] as number
          if (wv !== 0) acc = f(acc + (wv > 0 ? (dy[dr + j] as number) : -(dy[dr + j] as number)))
        }
        out[r * k + c] = f(acc * gamma)
      }
    }
  },

  rmsnormForward(y, invRms, x, g, rows, cols, eps) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols
      let ss = 0
      for (let i = 0; i < cols; i++) {
        const v = x[base + i] as number
        ss = f(ss + f(v * v))
      }
      const inv = rsqrtf(f(f(ss / cols) + eps))
      invRms[r] = inv
      for (let i = 0; i < cols; i++) y[base + i] = f(f((x[base + i] as number) * inv) * (g[i] as number))
    }
  },

  rmsnormBackward(dx, dg, x, g, invRms, dy, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols
      const inv = invRms[r] as number
      let dot = 0
      for (let i = 0; i < cols; i++) {
        const xh = f((x[base + i] as number) * inv)
        dot = f(dot + f(f((dy[base + i] as number) * (g[i] as number)) * xh))
      }
      const c = f(dot / cols)
      for (let i = 0; i < cols; i++) {
        const xh = f((x[base + i] as number) * inv)
        const gdy = f((dy[base + i] as number) * (g[i] as number))
        dx[base + i] = f(f(gdy - f(xh * c)) * inv)
      }
    }
    if (dg !== null) {
      for (let i = 0; i < cols; i++) {
        let acc = dg[i] as number
        for (let r = 0; r < rows; r++) {
          const xh = f((x[r * cols + i] as number) * (invRms[r] as number))
          acc = f(acc + f((dy[r * cols + i] as number) * xh))
        }
        dg[i] = acc
      }
    }
  },

  rope(x, cos, sin, t, heads, headDim, inverse) {
    const half = headDim / 2
    const width = heads * headDim
    for (let r = 0; r < t; r++) {
      for (let h = 0; h < heads; h++) {
        const base = r * width + h * headDim
        for (let i = 0; i < half; i++) {
          const c = cos[r * half + i] as number
          const s = sin[r * half + i] as number
          const a = x[base + 2 * i] as number
          const b = x[base + 2 * i + 1] as number
          if (inverse) {
            x[base + 2 * i] = f(f(a * c) + f(b * s))
            x[base + 2 * i + 1] = f(f(b * c) - f(a * s))
          } else {
            x[base + 2 * i] = f(f(a * c) - f(b * s))
            x[base + 2 * i + 1] = f(f(a * s) + f(b * c))
          }
        }
      }
    }
  },

  attentionForward(out, probs, q, k, v, t, heads, headDim, scale) {
    const width = heads * headDim
    probs.fill(0)
    for (let h = 0; h < heads; h++) {
      const off = h * headDim
      for (let i = 0; i < t; i++) {
        const prow = (h * t + i) * t
        let m = Number.NEGATIVE_INFINITY
        for (let j = 0; j <= i; j++) {
          let dot = 0
          for (let d = 0; d < headDim; d++) {
            dot = f(dot + f((q[i * width + off + d] as number) * (k[j * width + off + d] as number)))
          }
          const s = f(dot * scale)
          probs[prow + j] = s
          if (s > m) m = s
        }
        let z = 0
        for (let j = 0; j <= i; j++) {
          const e = expf(f((probs[prow + j] as number) - m))
          probs[prow + j] = e
          z = f(z + e)
        }
        for (let j = 0; j <= i; j++) probs[prow + j] = f((probs[prow + j] as number) / z)
        for (let d = 0; d < headDim; d++) {
          let acc = 0
          for (let j = 0; j <= i; j++)
            acc = f(acc + f((probs[prow + j] as number) * (v[j * width + off + d] as number)))
          out[i * width + off + d] = acc
        }
      }
    }
  },

  attentionBackward(dq, dk, dv, dout, probs, q, k, v, t, heads, headDim, scale) {
    const width = heads * headDim
    const g = new Float32Array(t * t)
    for (let h = 0; h < heads; h++) {
      const off = h * headDim
      g.fill(0)
      for (let i = 0; i < t; i++) {
        const prow = (h * t + i) * t
        // dp_ij, then the row's Σ p·dp, then g_ij = p·(dp − Σ)·scale.
        let sum = 0
        for (let j = 0; j <= i; j++) {
          let dp = 0
          for (let d = 0; d < headDim; d++) {
            dp = f(dp + f((dout[i * width + off + d] as number) * (v[j * width + off + d] as number)))
          }
          g[i * t + j] = dp
          sum = f(sum + f((probs[prow + j] as number) * dp))
        }
        for (let j = 0; j <= i; j++) {
          const p = probs[prow + j] as number
          g[i * t + j] = f(f(p * f((g[i * t + j] as number) - sum)) * scale)
        }
      }
      for (let i = 0; i < t; i++) {
        for (let d = 0; d < headDim; d++) {
          let acc = 0
          for (let j = 0; j <= i; j++) acc = f(acc + f((g[i * t + j] as number) * (k[j * width + off + d] as number)))
          dq[i * width + off + d] = acc
        }
      }
      for (let j = 0; j < t; j++) {
        for (let d = 0; d < headDim; d++) {
          let accK = 0
          let accV = 0
          for (let i = j; i < t; i++) {
            accK = f(accK + f((g[i * t + j] as number) * (q[i * width + off + d] as number)))
            accV = f(accV + f((probs[(h * t + i) * t + j] as number) * (dout[i * width + off + d] as number)))
          }
          dk[j * width + off + d] = accK
          dv[j * width + off + d] = accV
        }
      }
    }
  },

  relu2Forward(y, x) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i] as number
      y[i] = v > 0 ? f(v * v) : 0
    }
  },

  relu2Backward(dx, x, dy) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i] as number
      dx[i] = v > 0 ? f((dy[i] as number) * f(2 * v)) : 0
    }
  },

  addScaled(out, a, b, scale) {
    for (let i = 0; i < out.length; i++) out[i] = f((a[i] as number) + f((b[i] as number) * scale))
  },

  crossEntropy(dlogits, logits, targets, t, vocab) {
    let total = 0
    for (let r = 0; r < t; r++) {
      const base = r * vocab
      let m = Number.NEGATIVE_INFINITY
      for (let j = 0; j < vocab; j++) if ((logits[base + j] as number) > m) m = logits[base + j] as number
      let z = 0
      for (let j = 0; j < vocab; j++) {
        const e = expf(f((logits[base + j] as number) - m))
        dlogits[base + j] = e
        z = f(z + e)
      }
      const target = targets[r] as number
      const lse = f(m + logf(z))
      total = f(total + f(lse - (logits[base + target] as number)))
      for (let j = 0; j < vocab; j++) {
        const p = f((dlogits[base + j] as number) / z)
        dlogits[base + j] = f(f(j === target ? p - 1 : p) / t)
      }
    }
    return f(total / t)
  },

  adamw(p, m, v, g, lr, beta1, beta2, eps, weightDecay, bc1, bc2) {
    const omb1 = f(1 - beta1)
    const omb2 = f(1 - beta2)
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] as number
      const mi = f(f(beta1 * (m[i] as number)) + f(omb1 * gi))
      const vi = f(f(beta2 * (v[i] as number)) + f(f(omb2 * gi) * gi))
      m[i] = mi
      v[i] = vi
      const mh = f(mi / bc1)
      const vh = f(vi / bc2)
      const pi = p[i] as number
      const update = f(f(mh / f(f(Math.sqrt(vh)) + eps)) + f(weightDecay * pi))
      p[i] = f(pi - f(lr * update))
    }
  },

  weightedSum(out, grads, coef) {
    for (let j = 0; j < out.length; j++) {
      let acc = 0
      for (let i = 0; i < grads.length; i++)
        acc = f(acc + f((coef[i] as number) * ((grads[i] as Float32Array)[j] as number)))
      out[j] = acc
    }
  },
}
