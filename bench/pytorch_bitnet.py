#!/usr/bin/env python3
"""The `tiny` R3MES model (src/ml/config.ts) as plain PyTorch, in bf16 and without determinism:
the yardstick for the price of bit-exactness in `npm run bench -- cuda`.

Same architecture and sizes as src/ml/model.ts: byte tokens (vocab 256), float embedding and
head, 8 blocks of RMSNorm -> BitLinear q/k/v (+LoRA) -> RoPE -> causal attention -> RMSNorm ->
BitLinear o (+LoRA) -> residual -> RMSNorm -> BitLinear up (+LoRA) -> relu^2 -> RMSNorm ->
BitLinear down (+LoRA) -> residual, final RMSNorm, head, cross-entropy. BitLinear quantizes its
input per token to int8 (absmax, straight-through) and multiplies by frozen ternary weights with
one absmean scale. Only the LoRA adapters (rank 8, alpha 16) train, with AdamW, as in `ml
finetune`. Everything runs under bf16 autocast with PyTorch's fastest (non-deterministic)
kernels. Prints one JSON line: the best step's tokens per second.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

VOCAB, D, LAYERS, HEADS, FF, RANK, ALPHA, EPS, ROPE_BASE = 256, 256, 8, 4, 1024, 8, 16, 1e-5, 10000.0


class BitLinear(torch.nn.Module):
    def __init__(self, cols, rows):
        super().__init__()
        w = torch.randint(-1, 2, (rows, cols)).float()
        self.register_buffer("w", w)
        self.gamma = 0.5
        self.lora_a = torch.nn.Parameter(torch.randn(RANK, cols) * 0.01)
        self.lora_b = torch.nn.Parameter(torch.zeros(rows, RANK))

    def forward(self, x):
        amax = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
        scale = 127.0 / amax
        q = (x * scale).round().clamp(-127, 127) / scale
        q = x + (q - x).detach()  # straight-through
        y = F.linear(q, self.w.to(x.dtype)) * self.gamma
        return y + F.linear(F.linear(x, self.lora_a), self.lora_b) * (ALPHA / RANK)


def rms_norm(x, g):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * g


def rope(x, cos, sin):
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (BitLinear(D, D) for _ in range(4))
        self.up, self.down = BitLinear(D, FF), BitLinear(FF, D)
        self.register_buffer("g", torch.ones(4, FF))

    def forward(self, x, cos, sin):
        s, t = x.shape[0], x.shape[1]
        h = rms_norm(x, self.g[0, :D])
        split = lambda y: y.view(s, t, HEADS, D // HEADS).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(s, t, D)
        x = x + self.o(rms_norm(a, self.g[1, :D]))
        f = F.relu(self.up(rms_norm(x, self.g[2, :D]))).square()
        return x + self.down(rms_norm(f, self.g[3, :FF]))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, D)
        self.embed.weight.requires_grad_(False)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.register_buffer("gf", torch.ones(D))
        self.register_buffer("head", torch.randn(VOCAB, D) * 0.02)

    def forward(self, tokens, targets):
        t = tokens.shape[1]
        half = D // HEADS // 2
        inv = ROPE_BASE ** (-torch.arange(half, device=tokens.device).float() / half)
        ang = torch.arange(t, device=tokens.device).float()[:, None] * inv[None, :]
        cos, sin = ang.cos(), ang.sin()
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x, cos, sin)
        logits = F.linear(rms_norm(x, self.gf), self.head)
        return F.cross_entropy(logits.float().view(-1, VOCAB), targets.view(-1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sequences", type=int, default=4)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = Model().to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, fused=True)
    tokens = torch.randint(0, VOCAB, (args.sequences, args.tokens), device=dev)
    targets = torch.randint(0, VOCAB, (args.sequences, args.tokens), device=dev)
    best = math.inf
    for step in range(args.steps + 3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(tokens, targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if step >= 3:
            best = min(best, time.perf_counter() - t0)
    n = args.sequences * args.tokens
    print(json.dumps({"tokensPerSecond": n / best, "stepSeconds": best, "sequences": args.sequences,
                      "tokens": args.tokens, "torch": torch.__version__, "device": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
