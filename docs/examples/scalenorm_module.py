import torch

from scalenorm_op import ScaleNormFn


class ScaleNorm(torch.nn.Module):
    def __init__(self, n, eps=1e-5):
        super().__init__()
        self.g = torch.nn.Parameter(torch.tensor(float(n) ** 0.5))
        self.eps = eps

    def forward(self, x):
        return ScaleNormFn.apply(x, self.g, self.eps)
