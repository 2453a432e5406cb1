import math
import sys

import torch
from torch import nn


# Fit y = sin(x0) + sin(x1) + noise on [-3, 3]^2 with an MLP (LayerNorm, GELU),
# AdamW with the decay groups of Hugging Face's Trainer, warmup + cosine and
# clipping, and write the losses into the directory given (no matplotlib here).
def main():
    steps, warmup = 1500, 100
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 64), nn.LayerNorm(64), nn.GELU(), nn.Linear(64, 1))
    # weight decay 0.01 except on the LayerNorm's weight and the biases
    norms = {name for name, m in net.named_modules() if isinstance(m, nn.LayerNorm)}
    no_decay = lambda name: "bias" in name or name.rsplit(".", 1)[0] in norms
    params = list(net.named_parameters())
    opt = torch.optim.AdamW([
        {"params": [p for n, p in params if not no_decay(n)], "weight_decay": 0.01},
        {"params": [p for n, p in params if no_decay(n)], "weight_decay": 0.0}], lr=1e-2)
    progress = lambda s: min(1, (s - warmup) / (steps - warmup))
    cosine = lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress(s)))
    factor = lambda s: s / warmup if s < warmup else cosine(s)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    losses = []
    for step in range(steps):
        x = torch.rand(64, 2) * 6 - 3
        y = torch.sin(x).sum(1, keepdim=True) + 0.05 * torch.randn(64, 1)
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
        if (step + 1) % 300 == 0:
            print(f"after step {step + 1:4d}  loss {losses[-1]:.5f}")
    with open(f"{sys.argv[1] if len(sys.argv) > 1 else '.'}/regression_loss_torch.dat", "w") as f:
        f.write("".join(f"{i} {v}\n" for i, v in enumerate(losses)))
    return 0 if losses[-1] < 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())
