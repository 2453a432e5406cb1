import sys

import torch
from torch.autograd import gradcheck

from scalenorm_module import ScaleNorm
from scalenorm_op import ScaleNormFn


# The cases of scalenorm_check.c: the op at three shapes, x used twice, the module.
def main():
    torch.manual_seed(0)
    f64 = dict(dtype=torch.float64, requires_grad=True)
    op = lambda x, g: ScaleNormFn.apply(x, g, 1e-5)
    for xs, gs in [((3, 5), ()), ((2, 2, 4), (1,)), ((4, 1), ())]:
        assert gradcheck(op, (torch.randn(xs, **f64), torch.randn(gs, **f64)))
    assert gradcheck(lambda x, g: x * op(x, g), (torch.randn(3, 4, **f64), torch.randn((), **f64)))
    m = ScaleNorm(6).double()
    with torch.no_grad():
        m.g.fill_(1.7)  # not sqrt(6): a wrong dg must show
    assert gradcheck(lambda x, g: m(x), (torch.randn(2, 3, 6, **f64), m.g))
    print("5 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
