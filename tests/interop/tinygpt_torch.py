#!/usr/bin/env python3
"""tests/interop/tinygpt_torch.py — tinygpt's model in PyTorch, and the
PyTorch side of the exchange and trajectory tests.

The model has the same modules under the same names as ag's tiny GPT
(demos/common/tinygpt_model.c), so an ag checkpoint loads with
load_state_dict(strict=True) and a PyTorch state_dict saves into a file ag
loads:

    wte, wpe                         Embedding
    layers.N.input_layernorm         LlamaRMSNorm  w * (x * rsqrt(mean(x^2) + eps))
    layers.N.self_attn.{q,k,v,o}_proj Linear, no bias
    layers.N.post_attention_layernorm
    layers.N.mlp.{up,down}_proj      Linear, no bias; exact GELU between
    norm, lm_head

Safetensors is read and written here by hand (Debian has no safetensors
package; the format is an 8-byte little-endian header length, a JSON header,
then the raw little-endian data).

Commands (each prints what it computed; exit status 1 on a mismatch):
    loss CKPT BATCHES            the loss of the checkpoint's model on batch 0
    export CKPT OUT SEED         PyTorch's own initialisation (seed) of the
                                 model CKPT describes, saved to OUT
    trajectory CKPT BATCHES STEPS LR OUT_LOSSES OUT_FINAL
                                 AdamW from the checkpoint on the batches
    compare A B TOL              the largest difference of any parameter of two
                                 files, relative to the parameter's largest
                                 magnitude; exit 1 above TOL
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16,
          "F16": torch.float16}
NAMES = {v: k for k, v in DTYPES.items()}


def st_read(path):
    """(tensors by name, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=DTYPES[h["dtype"]])
        out[name] = t.reshape(h["shape"]).clone()
    return out, meta


def st_write(path, tensors, meta=None):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Attention(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (
            nn.Linear(c, c, bias=False) for _ in range(4))

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.h
        q, k, v = (p(x).view(B, T, self.h, hd).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        return self.o_proj((att @ v).transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.up_proj = nn.Linear(c, 4 * c, bias=False)
        self.down_proj = nn.Linear(4 * c, c, bias=False)

    def forward(self, x):
        return self.down_proj(F.gelu(self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, c, h, eps):
        super().__init__()
        self.input_layernorm = RMSNorm(c, eps)
        self.self_attn = Attention(c, h)
        self.post_attention_layernorm = RMSNorm(c, eps)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab, block, n_layer, n_embd, n_head, eps=1e-6):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block, n_embd)
        self.layers = nn.ModuleList(Block(n_embd, n_head, eps) for _ in range(n_layer))
        self.norm = RMSNorm(n_embd, eps)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for b in self.layers:
            x = b(x)
        return self.lm_head(self.norm(x))

    def loss(self, ids, targets):
        logits = self(ids)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=-100)


def model_of(meta, sd):
    """The model a checkpoint describes: its metadata gives the shape."""
    g = {k: int(meta[k]) for k in ("vocab", "block_size", "n_layer", "n_embd", "n_head")}
    m = TinyGPT(g["vocab"], g["block_size"], g["n_layer"], g["n_embd"], g["n_head"])
    return m.to(next(iter(sd.values())).dtype)


def read_batches(path):
    """[(ids [B,T], targets [B*T])] from the text file the ag side writes:
    a line "B T" per batch, then B lines of T ids and B lines of T targets."""
    out = []
    with open(path) as f:
        lines = [l.split() for l in f if l.strip()]
    i = 0
    while i < len(lines):
        B, T = map(int, lines[i])
        ids = torch.tensor([list(map(int, l)) for l in lines[i + 1:i + 1 + B]])
        tg = torch.tensor([list(map(int, l)) for l in lines[i + 1 + B:i + 1 + 2 * B]])
        out.append((ids, tg.reshape(-1)))
        i += 1 + 2 * B
    return out


def main(argv):
    torch.set_num_threads(1)
    cmd = argv[1]
    if cmd == "loss":
        sd, meta = st_read(argv[2])
        m = model_of(meta, sd)
        m.load_state_dict(sd, strict=True)
        ids, tg = read_batches(argv[3])[0]
        with torch.no_grad():
            print("%.17g" % m.loss(ids, tg).item())
        return 0
    if cmd == "export":
        sd, meta = st_read(argv[2])
        torch.manual_seed(int(argv[4]))
        m = model_of(meta, sd)
        st_write(argv[3], m.state_dict(), meta)
        return 0
    if cmd == "trajectory":
        sd, meta = st_read(argv[2])
        m = model_of(meta, sd)
        m.load_state_dict(sd, strict=True)
        batches = read_batches(argv[3])
        steps, lr = int(argv[4]), float(argv[5])
        decay = [p for n, p in m.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in m.named_parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=lr, betas=(0.9, 0.99), eps=1e-8, foreach=False)
        warmup = int(meta.get("warmup", "10"))

        def factor(step):
            if step < warmup:
                return step / max(warmup, 1)
            p = min((step - warmup) / max(steps - warmup, 1), 1.0)
            return 0.5 * (1.0 + math.cos(math.pi * p)) * (1 - 0.1) + 0.1

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        losses = []
        for s in range(steps):
            ids, tg = batches[s % len(batches)]
            loss = m.loss(ids, tg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        with open(argv[6], "w") as f:
            for i, l in enumerate(losses):
                f.write("%d %.17g\n" % (i + 1, l))
        st_write(argv[7], m.state_dict(), meta)
        return 0
    if cmd == "compare":
        a, _ = st_read(argv[2])
        b, _ = st_read(argv[3])
        if set(a) != set(b):
            print("the files hold different names", file=sys.stderr)
            return 1
        worst, where = 0.0, ""
        for name in a:
            x, y = a[name].double(), b[name].double()
            d = ((x - y).abs().max() / y.abs().max().clamp(min=1e-30)).item()
            if d > worst:
                worst, where = d, name
        print("   final parameters: worst difference %.2e of the tensor's largest value (%s; "
              "at most %s)" % (worst, where, argv[4]))
        return 0 if worst <= float(argv[4]) else 1
    print("unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
