#!/usr/bin/env python3
"""The reference stack for `glance bench`: LLaVA-OPT-125M at full size in plain PyTorch eager mode, the way
HF transformers 4.36 runs it on Debian's torch 1.13 (no SDPA there: attention is matmul + softmax), with random
weights, batch 1, greedy, 20 new tokens with a KV cache, timed phase by phase in fp32 and in bf16 (the model
cast with .to(torch.bfloat16), as `torch_dtype=torch.bfloat16` does).

Not a test and not a dependency of SharpGlance: HF transformers cannot be installed here (no PyPI), so this
writes out the same modules (CLIP ViT-L/14-336 to layer 23, mlp2x_gelu, OPT-125M) in ~100 lines of torch.

    apt-get install --no-install-recommends python3-torch     # Debian 12: torch 1.13
    /usr/bin/python3 bench/reference_torch.py [--threads 2] [--runs 3]   # Debian's python, where its torch is
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def attention(q, k, v, heads, causal_from=None):
    b, t, d = q.shape
    s = k.shape[1]
    q = q.view(b, t, heads, d // heads).transpose(1, 2)
    k = k.view(b, s, heads, d // heads).transpose(1, 2)
    v = v.view(b, s, heads, d // heads).transpose(1, 2)
    w = torch.matmul(q, k.transpose(-1, -2)) * (d // heads) ** -0.5
    if causal_from is not None and t > 1:
        mask = torch.ones(t, s, dtype=torch.bool).triu(s - t + 1)
        w = w.masked_fill(mask, torch.finfo(w.dtype).min)
    w = torch.softmax(w.float(), dim=-1).to(v.dtype)   # HF upcasts the softmax to fp32
    return torch.matmul(w, v).transpose(1, 2).reshape(b, t, d)


class Block(nn.Module):
    """A pre-LN transformer block's parameters: CLIP's and OPT's have the same ones."""

    def __init__(self, d, f, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, f), nn.Linear(f, d)


class ClipBlock(Block):
    def __init__(self):
        super().__init__(1024, 4096, 16)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.o(attention(self.q(h), self.k(h), self.v(h), self.heads))
        h = self.fc1(self.ln2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))   # quick_gelu


class OptBlock(Block):
    def __init__(self):
        super().__init__(768, 3072, 12)

    def forward(self, x, cache):
        h = self.ln1(x)
        k, v = self.k(h), self.v(h)
        if cache:
            k, v = torch.cat([cache[0], k], 1), torch.cat([cache[1], v], 1)
        x = x + self.o(attention(self.q(h), k, v, self.heads, causal_from=0))
        return x + self.fc2(F.relu(self.fc1(self.ln2(x)))), (k, v)


class Llava(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 1024, 14, 14, bias=False)
        self.cls = nn.Parameter(torch.zeros(1024))
        self.pos = nn.Embedding(577, 1024)
        self.pre_ln = nn.LayerNorm(1024)
        self.vit = nn.ModuleList(ClipBlock() for _ in range(23))   # up to the select layer (-2), as LLaVA reads it
        self.proj = nn.Sequential(nn.Linear(1024, 768), nn.GELU(), nn.Linear(768, 768))
        self.embed = nn.Embedding(50272, 768)
        self.opt_pos = nn.Embedding(2050, 768)
        self.opt = nn.ModuleList(OptBlock() for _ in range(12))
        self.final_ln = nn.LayerNorm(768)

    def encode(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1).to(x.dtype), x], 1) + self.pos.weight.to(x.dtype)
        x = self.pre_ln(x)
        for block in self.vit:
            x = block(x)
        return self.proj(x[:, 1:])

    def lm(self, h, past, caches):
        h = h + self.opt_pos(torch.arange(past, past + h.shape[1]) + 2)
        new = []
        for block, cache in zip(self.opt, caches or [None] * len(self.opt)):
            h, kv = block(h, cache)
            new.append(kv)
        return F.linear(self.final_ln(h[:, -1:]), self.embed.weight), new


@torch.no_grad()
def caption(model, pixels, prompt, new_tokens):
    times = {}
    t0 = time.perf_counter()
    visual = model.encode(pixels)
    t1 = time.perf_counter()
    h = torch.cat([model.embed(prompt[:, :1]), visual, model.embed(prompt[:, 1:])], 1)
    logits, caches = model.lm(h, 0, None)
    token = logits.argmax(-1)
    t2 = time.perf_counter()
    past = h.shape[1]
    for _ in range(new_tokens - 1):
        logits, caches = model.lm(model.embed(token), past, caches)
        token = logits.argmax(-1)
        past += 1
    t3 = time.perf_counter()
    times.update(vit_and_connector=t1 - t0, prefill=t2 - t1, decode_per_token=(t3 - t2) / (new_tokens - 1), total=t3 - t0)
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--new-tokens", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Llava().eval()
    with torch.no_grad():
        for name, prm in model.named_parameters():   # glance bench's cheap random weights: uniform(±0.02·√3), norms 1, biases 0
            if name.endswith("bias"):
                prm.zero_()
            elif "ln" in name:
                prm.fill_(1.0)
            else:
                prm.uniform_(-0.035, 0.035)
    pixels = torch.randn(1, 3, 336, 336)
    prompt = torch.randint(3, 50000, (1, 16))   # BOS + 15 prompt tokens, as glance bench's template
    blas = next((l.strip() for l in torch.__config__.show().splitlines() if "BLAS_INFO" in l), "")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn {torch.backends.mkldnn.is_available()}; {blas}")
    for dtype in (torch.float32, torch.bfloat16):
        model.to(dtype)
        caption(model, pixels.to(dtype), prompt, a.new_tokens)   # warm-up
        runs = [caption(model, pixels.to(dtype), prompt, a.new_tokens) for _ in range(a.runs)]
        mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
        print(f"{str(dtype).replace('torch.', ''):9s} total {mean['total']:.2f} s  (ViT + connector {mean['vit_and_connector']:.2f} s, "
              f"prefill {mean['prefill']:.2f} s, decode {1000 * mean['decode_per_token']:.1f} ms/token; mean of {a.runs})")


if __name__ == "__main__":
    main()
