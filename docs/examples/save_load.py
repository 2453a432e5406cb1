import sys

import torch
from torch import nn


# Linear -> LayerNorm -> GELU -> Linear (with_norm) or Linear -> GELU -> Linear.
def make_net(with_norm):
    norm = [nn.LayerNorm(32)] if with_norm else []
    return nn.Sequential(nn.Linear(1, 32), *norm, nn.GELU(), nn.Linear(32, 1))


# Train briefly on y = sin(x), save into the directory given (default: the
# current one), load into a new model (strict), then into another one (a
# failed load raises). Exits 1 unless the loaded model computes what the
# saved one does.
def main():
    torch.manual_seed(0)
    net = make_net(True)
    opt = torch.optim.Adam(net.parameters())
    for step in range(300):
        x = torch.rand(64, 1) * 6 - 3
        nn.functional.mse_loss(net(x), torch.sin(x)).backward()
        opt.step()
        opt.zero_grad()
    path = f"{sys.argv[1] if len(sys.argv) > 1 else '.'}/sine.pt"
    torch.save(net.state_dict(), path)

    copy = make_net(True)  # fresh weights, then the file's
    copy.load_state_dict(torch.load(path))
    x = torch.arange(-3.0, 3.0, 0.5).reshape(-1, 1)
    with torch.no_grad():
        diff = (net(x) - copy(x)).abs().max().item()
    print(f"strict: max |net(x) - copy(x)| = {diff:g}")

    other = make_net(False)  # no LayerNorm: 2.* is the last Linear
    res = other.load_state_dict(torch.load(path), strict=False)
    print(res)
    return 0 if diff == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
