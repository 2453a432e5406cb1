#!/bin/sh
# The lines up to the closing quotes are sh: they look for a Python with PyTorch
# (Debian's python3-torch installs into /usr/bin/python3, which need not be the
# python3 first on PATH) and run this file with it; to Python they are a string.
""":"
for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
        "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)" \
            >/dev/null 2>&1; then
        exec "$py" "$0" "$@"
    fi
done
for py in /usr/bin/python3 python3; do
    command -v "$py" >/dev/null 2>&1 && exec "$py" "$0" "$@"
done
echo "bench_torch.py: needs python3 (and PyTorch: apt-get install python3-torch)" >&2
exit 1
":"""

DOC = """demos/bench_torch.py: ag against PyTorch on the same workloads, in one run.

Runs ag's benchmark programs (bench-train, bench-norms) and the same work in
PyTorch, then prints PyTorch time / ag time for each (above 1: ag is faster).
It is a comparison script, not a test. PyTorch: Debian's python3-torch.

Training (bench-train --csv): tinygpt's model written in PyTorch with the same
architecture (vocabulary 27; pre-norm blocks of Llama RMSNorm with eps 1e-6,
causal attention from q/k/v/o projections and a softmax over masked scores,
an MLP of width 4C with exact GELU; no biases, no dropout; final norm, LM
head), the same parameter count (checked against bench-train --count-params),
GPT-2 initialisation, AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay
0.01 on the matrices and none on the norm weights; PyTorch's default for-loop
implementation), zero_grad keeping the buffers. Step: batch of random tokens,
forward, cross-entropy, backward, AdamW step, zero_grad. The causal mask is a
buffer made once (ag makes it each step). Same warm-up (micro 20 steps, small
3), a group size near 0.2 s, the median over the groups, then over --rounds
rounds (3), each bench-train and then PyTorch (the machine's speed drifts
between two programs run one after the other; each round's ratio is
printed too), same threads: for
PyTorch, torch.set_num_threads and OPENBLAS_NUM_THREADS (set before torch
loads; the former does not reach OpenBLAS's own pool, which otherwise runs
PyTorch's matrix products on every core even at one thread).

Norms (bench-norms --csv): PyTorch f32 on the same shapes, inputs that require
gradients, so forward records the graph as in training:
  rmsnorm    x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w   (composed)
  layernorm  F.layer_norm(x, (D,), w, b, eps)
  fwd        y = f(x)
  bwd        y.backward(dy, retain_graph=True) on one recorded forward, the
             gradients of x, w, b cleared (set to None) before each run
  fwdbwd     y = f(x); y.backward(dy)
Median of the runs after one warm-up (5 runs at 32768x4096 and above, else 7;
--reps for both sides); a run under 20 ms repeats the pass and divides, as
bench-norms does. gbps counts fwd 2N, bwd 3N, fwdbwd 5N bytes, N = rows*dim*4.
Both sides run --norm-threads threads (all CPUs by default, as bench-norms).

Targets, marked in the tables: ag's fused RMSNorm >= 15x PyTorch's composed
one and ag's LayerNorm >= 4x PyTorch's, forward and forward+backward; a
training step >= 20x at micro and >= 1.4x at small, at any thread count.

Words (bench_torch.py words [--steps N] [--threads T] ...; --help lists the
flags): a whole training run of tinygpt on its word list and the same run in
PyTorch, one after the other, same threads. The model is the bench-train one
at --layers/--embd/--heads/--block (the parameter counts are compared). The
data are tinygpt's, reproduced here: the lowercase a-z words of
/usr/share/dict/words (or every line of --data) of at most block-1 bytes, the
same fixed split (a Fisher-Yates shuffle by ag's xoshiro256** seeded 20240611,
the last tenth for validation; checked against tinygpt's split counts and
unigram baseline) and the same batches (--batch training words drawn by the
generator seeded --seed + 1): ids '.' w1 .. wn, padded with '.' to the batch's
longest word + 1; targets w1 .. wn '.', then ignored. Loss: the mean
cross-entropy over the batch's targets. AdamW (betas --beta1/--beta2, eps
1e-8, --weight-decay on the matrices, none on the norm weights), the lr of
step k (from 1) is --lr times the factor at k-1: (k-1)/warmup during the
warmup, then a cosine to --min-lr-frac over the rest of --schedule-steps;
gradients clipped to total norm --clip (0: none) before the step. Only the
initial weights differ (both GPT-2 initialisation, each its own generator),
unless --same-init loads tinygpt's into PyTorch: then the two runs follow each
other step by step, up to f32 rounding, which checks all of the above.
Reported: milliseconds per training step (forward, backward, clipping,
AdamW; not the batch making nor the evaluations), the ratio, the batch losses
of both at equal steps (mean over a trailing window) and the final
validation loss of both over all the validation words. Targets: PyTorch
ms / tinygpt ms >= 5, validation within 0.02 nats.

Scale (bench_torch.py scale [--threads T] [--groups K] [--plot DIR] [--csv]):
the training step above as batch and width double: batch 16, 32, 64, 128 at
128 dims and width 64, 128, 256 at batch 32 (4 layers, 4 heads, block 64;
configurations b16 ... b128, w64 ... w256, parameter counts checked against
bench-train --scale --count-params). PyTorch runs first, with the same
warm-up (3 steps), groups and threads (1 by default); then bench-train
--scale --csv gives ag's ms per step, its matmul floor (the step's own
matrix products replayed back to back) and the GFLOP of those products.
Printed: GFLOP, ag ms, ag floor ms, ag step/floor, PyTorch ms, PyTorch/ag,
and per sweep how ms per step grows against GFLOP from its first point
(time that grows with the FLOPs gives 1.00). --plot DIR hands PyTorch's
figures to bench-train (--torch-csv), which draws DIR/bench-scale.png with
the library's plot helper: ms per step against GFLOP per step, log axes,
ag, its floor and PyTorch, the batch and the width sweep as separate lines.
"""

import argparse
import csv
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_HINT = "cmake --preset default && cmake --build --preset default"

DEFAULT_SHAPES = [(32768, 4096), (8192, 1280), (65536, 64), (256, 4096)]
QUICK_SHAPES = [(65536, 64), (256, 4096)]
BIG_ELEMENTS = 32768 * 4096  # from here on, 5 runs instead of 7

VOCAB = 27
DICT_PATH = "/usr/share/dict/words"  # tinygpt's default word list
CONFIGS = {  # name: (layers, dims, heads, block, batch, warm-up steps)
    "micro": (1, 16, 4, 16, 1, 20),
    "small": (4, 128, 4, 64, 32, 3),
}
GROUP_SECONDS = 0.2
RMS_EPS = 1e-6  # tinygpt's Llama RMSNorm and bench-norms
LN_EPS = 1e-6   # bench-norms

TARGETS = {  # (bench, op, pass) -> PyTorch time / ag time that ag should reach
    ("norms", "rmsnorm", "fwd"): 15.0,
    ("norms", "rmsnorm", "fwdbwd"): 15.0,
    ("norms", "layernorm", "fwd"): 4.0,
    ("norms", "layernorm", "fwdbwd"): 4.0,
    ("train", "micro", "step"): 20.0,
    ("train", "small", "step"): 1.4,
}


def parse_args():
    if len(sys.argv) > 1 and sys.argv[1] == "words":
        return parse_words_args(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "scale":
        return parse_scale_args(sys.argv[2:])
    p = argparse.ArgumentParser(
        prog="bench_torch.py",
        description=DOC.split("\n\n")[0],
        epilog="bench_torch.py words [--steps N] ... (words --help): a whole training run of "
               "tinygpt on its word list against the same run in PyTorch. bench_torch.py scale "
               "... (scale --help): the step as batch and width double, ag (with its matmul "
               "floor) and PyTorch, and their plot. See the top of demos/bench_torch.py for "
               "what is measured and how.",
    )
    p.add_argument("--bin", default=os.path.join(REPO, "build", "bin"),
                   help="where bench-train and bench-norms are (default: build/bin)")
    p.add_argument("--skip-train", action="store_true", help="no training comparison")
    p.add_argument("--skip-norms", action="store_true", help="no norm comparison")
    p.add_argument("--config", choices=["micro", "small", "all"], default="all",
                   help="training configuration (all)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads of the training comparison (1, as bench-train)")
    p.add_argument("--groups", type=int, default=7,
                   help="timed groups of training steps, >= 5 (7)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of the training comparison, each ag then PyTorch; "
                        "the figures are medians over them (3)")
    p.add_argument("--norm-threads", type=int, default=os.cpu_count() or 1,
                   help="threads of the norm comparison (all CPUs, as bench-norms)")
    p.add_argument("--shapes",
                   help="norm shapes RxD,... (32768x4096,8192x1280,65536x64,256x4096)")
    p.add_argument("--quick", action="store_true",
                   help="only the small norm shapes (65536x64,256x4096)")
    p.add_argument("--reps", type=int,
                   help="norm runs per figure, >= 5, for both sides (7; 5 at 32768x4096 and above)")
    p.add_argument("--csv", action="store_true", help="the comparison as CSV instead of tables")
    p.add_argument("--ag-train-csv", metavar="FILE",
                   help="read ag's training figures from a saved bench-train --csv output")
    p.add_argument("--ag-norms-csv", metavar="FILE",
                   help="read ag's norm figures from a saved bench-norms --csv output")
    a = p.parse_args()
    if a.threads < 1 or a.norm_threads < 1:
        p.error("--threads and --norm-threads must be >= 1")
    if a.groups < 5:
        p.error("--groups must be >= 5")
    if a.rounds < 1:
        p.error("--rounds must be >= 1")
    if a.reps is not None and a.reps < 5:
        p.error("--reps must be >= 5")
    if a.shapes:
        try:
            a.shape_list = [parse_shape(s) for s in a.shapes.split(",") if s]
        except ValueError as e:
            p.error(str(e))
    else:
        a.shape_list = QUICK_SHAPES if a.quick else DEFAULT_SHAPES
    a.config_list = list(CONFIGS) if a.config == "all" else [a.config]
    a.mode = "bench"
    return a


WORDS_REF = "2 layers, 64 dims, 4 heads, block 23, batch 64"


def mode_parser(mode, description, program_name):
    """The parser of bench_torch.py MODE, with its --bin option."""
    p = argparse.ArgumentParser(
        prog=f"bench_torch.py {mode}", description=description,
        epilog=f"See the top of demos/bench_torch.py ({mode.capitalize()}) for what is measured.")
    p.add_argument("--bin", default=os.path.join(REPO, "build", "bin"),
                   help=f"where {program_name} is (default: build/bin)")
    return p


def parse_words_args(argv):
    p = mode_parser("words", "tinygpt and the same model, data, batches and schedule in "
                    "PyTorch: ms per step, losses at equal steps, final validation loss.",
                    "tinygpt")
    p.add_argument("--steps", type=int, default=300, help="training steps of both (300)")
    p.add_argument("--schedule-steps", type=int,
                   help="steps the schedule spans (--steps): with more, the run is the first "
                        "--steps of a longer one")
    p.add_argument("--threads", type=int, default=2, help="threads of both (2)")
    p.add_argument("--layers", type=int, default=2, help="(2)")
    p.add_argument("--embd", type=int, default=64, help="(64)")
    p.add_argument("--heads", type=int, default=4, help="(4)")
    p.add_argument("--block", type=int, default=23, help="longest word + 1 (23)")
    p.add_argument("--batch", type=int, default=64, help="words per step (64)")
    p.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (1e-2)")
    p.add_argument("--beta1", type=float, default=0.9, help="(0.9)")
    p.add_argument("--beta2", type=float, default=0.99, help="(0.99)")
    p.add_argument("--weight-decay", type=float, default=0.1, help="on the matrices (0.1)")
    p.add_argument("--warmup", type=int,
                   help="linear warmup steps (tinygpt's default: min(100, schedule steps/10))")
    p.add_argument("--min-lr-frac", type=float, default=0.0,
                   help="the cosine's floor as a fraction of --lr (0)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip, 0: none (1)")
    p.add_argument("--seed", type=int, default=42, help="tinygpt's --seed: its batches (42)")
    p.add_argument("--torch-seed", type=int, default=42,
                   help="PyTorch's initialisation (42)")
    p.add_argument("--same-init", action="store_true",
                   help="PyTorch starts from tinygpt's initial weights (saved by a first "
                        "tinygpt run of one step at lr 0): the losses then follow each other "
                        "step by step, a check of the whole reproduction")
    p.add_argument("--data", help="one item per line (tinygpt's default: " + DICT_PATH + ")")
    p.add_argument("--every", type=int, default=50,
                   help="a loss line every N steps (50)")
    p.add_argument("--window", type=int, default=50,
                   help="the loss lines' mean over the last N steps (50)")
    a = p.parse_args(argv)
    for name in ("steps", "threads", "layers", "embd", "heads", "batch", "every", "window"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be >= 1")
    if a.block < 2:
        p.error("--block must be >= 2")
    if a.embd % a.heads:
        p.error(f"--embd {a.embd} is not divisible by --heads {a.heads}")
    if a.schedule_steps is None:
        a.schedule_steps = a.steps
    if a.schedule_steps < a.steps:
        p.error("--schedule-steps must be >= --steps")
    if a.warmup is None:
        a.warmup = min(100, a.schedule_steps // 10)
    if a.same_init and a.warmup < 1:
        p.error("--same-init needs --warmup >= 1 (its first step, at lr 0, keeps the weights)")
    if not 0 <= a.warmup <= a.schedule_steps:
        p.error("--warmup must be in 0..--schedule-steps")
    if not (0 <= a.beta1 < 1 and 0 <= a.beta2 < 1):
        p.error("--beta1 and --beta2 must be in [0, 1)")
    if not 0 <= a.min_lr_frac <= 1:
        p.error("--min-lr-frac must be in [0, 1]")
    if not (a.lr > 0 and a.weight_decay >= 0 and a.clip >= 0):
        p.error("--lr must be > 0, --weight-decay and --clip >= 0")
    a.mode = "words"
    return a


# The sweep of bench-train --scale: (sweep, config, batch, width); 4 layers, 4
# heads, block 64, 3 warm-up steps.
SCALE = [("batch", "b16", 16, 128), ("batch", "b32", 32, 128), ("batch", "b64", 64, 128),
         ("batch", "b128", 128, 128), ("width", "w64", 32, 64), ("width", "w128", 32, 128),
         ("width", "w256", 32, 256)]


def parse_scale_args(argv):
    p = mode_parser("scale", "The training step as batch and width double: ms per step and "
                    "the matmul floor of ag, ms per step of PyTorch, and a plot of both against "
                    "GFLOP.", "bench-train")
    p.add_argument("--threads", type=int, default=1, help="threads of both (1)")
    p.add_argument("--groups", type=int, default=7, help="timed groups of steps, >= 5 (7)")
    p.add_argument("--plot", metavar="DIR",
                   help="draw DIR/bench-scale.png (e.g. docs) through bench-train --plot")
    p.add_argument("--csv", action="store_true", help="the comparison as CSV instead of a table")
    a = p.parse_args(argv)
    if a.threads < 1:
        p.error("--threads must be >= 1")
    if a.groups < 5:
        p.error("--groups must be >= 5")
    a.mode = "scale"
    return a


def parse_shape(s):
    r, sep, d = s.lower().partition("x")
    if not sep or not r.isdigit() or not d.isdigit() or int(r) < 1 or int(d) < 1:
        raise ValueError(f"bad shape '{s}': expected ROWSxDIM, e.g. 8192x1280")
    return int(r), int(d)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- ag's programs ---------------------------------------------------------------


def program(args, name):
    path = os.path.join(args.bin, name)
    if not os.access(path, os.X_OK):
        log(f"bench_torch.py: {path} not found; build it first: {BUILD_HINT} "
            f"(or point --bin at another build's bin directory)")
        sys.exit(2)
    return path


def run_csv(cmd):
    """Runs cmd and returns its stdout's CSV rows as dicts."""
    log("running " + " ".join([os.path.basename(cmd[0])] + cmd[1:]))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        log(f"bench_torch.py: {cmd[0]} failed (exit {r.returncode}):\n{r.stderr.strip()}")
        sys.exit(1)
    return read_csv(r.stdout, cmd[0])


def read_csv(text, what):
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        log(f"bench_torch.py: no CSV rows from {what}")
        sys.exit(1)
    return rows


def need_columns(rows, cols, what):
    missing = [c for c in cols if c not in rows[0]]
    if missing:
        log(f"bench_torch.py: {what}: columns {', '.join(missing)} missing "
            f"(got {', '.join(rows[0])})")
        sys.exit(1)


# ---- timing ----------------------------------------------------------------------


def time_groups(step, warmup, groups):
    """Seconds per step: (median, min) over groups of about GROUP_SECONDS,
    and the group size; the same procedure as bench-train."""
    for _ in range(warmup):
        step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        el = time.perf_counter() - t0
        if el >= 0.05:
            break
    per = max(1, math.ceil(GROUP_SECONDS / (el / n)))
    g = []
    for _ in range(groups):
        s = time.perf_counter()
        for _ in range(per):
            step()
        g.append((time.perf_counter() - s) / per)
    return statistics.median(g), min(g), per


def time_checked(t, name, counts, groups):
    """time_groups of trainer t, after checking that its parameter count is ag's
    (counts: config -> ag's count, or None) and before checking its loss is
    finite; exits 1 on either."""
    if counts is not None and counts.get(name) != t.nparams:
        log(f"bench_torch.py: {name}: ag has {counts.get(name)} parameters, the PyTorch model "
            f"{t.nparams}: the models differ")
        sys.exit(1)
    timed = time_groups(t.step, t.warmup, groups)
    if not math.isfinite(t.loss):
        log(f"bench_torch.py: {name}: PyTorch's loss is {t.loss}")
        sys.exit(1)
    return timed


def time_pass(run, reset, reps):
    """Median seconds of run() over reps runs after one warm-up run; a run
    under 20 ms repeats inside the timing (reset() before each, untimed when
    it runs once; what run() returns is then freed after the clock stops)."""
    reset()
    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    inner = 1 if first >= 0.02 else max(1, math.ceil(0.02 / max(first, 1e-7)))
    ts = []
    for _ in range(reps):
        if inner == 1:
            reset()
            t0 = time.perf_counter()
            out = run()
            ts.append(time.perf_counter() - t0)
            del out  # freed outside the timing
        else:
            t0 = time.perf_counter()
            for _ in range(inner):
                reset()
                run()
            ts.append((time.perf_counter() - t0) / inner)
    return statistics.median(ts)


# ---- the tiny GPT in PyTorch -----------------------------------------------------


def build_gpt(torch, layers, dims, heads, block, vocab=VOCAB):
    nn, F = torch.nn, torch.nn.functional

    class LlamaRMSNorm(nn.Module):
        """Hugging Face's LlamaRMSNorm: w * (x * rsqrt(mean(x^2) + eps))."""

        def __init__(self, n, eps=RMS_EPS):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n))
            self.eps = eps

        def forward(self, x):
            var = x.pow(2).mean(-1, keepdim=True)
            return self.weight * (x * torch.rsqrt(var + self.eps))

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(dims, dims, bias=False)
            self.k_proj = nn.Linear(dims, dims, bias=False)
            self.v_proj = nn.Linear(dims, dims, bias=False)
            self.o_proj = nn.Linear(dims, dims, bias=False)
            mask = torch.triu(torch.ones(block, block, dtype=torch.bool), diagonal=1)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, x):
            B, T, C = x.shape
            hd = C // heads
            q = self.q_proj(x).view(B, T, heads, hd).transpose(1, 2)
            k = self.k_proj(x).view(B, T, heads, hd).permute(0, 2, 3, 1)
            v = self.v_proj(x).view(B, T, heads, hd).transpose(1, 2)
            att = (q @ k) * (1.0 / math.sqrt(hd))
            att = att.masked_fill(self.mask[:T, :T], float("-inf"))
            att = F.softmax(att, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            return self.o_proj(y)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.up_proj = nn.Linear(dims, 4 * dims, bias=False)
            self.down_proj = nn.Linear(4 * dims, dims, bias=False)

        def forward(self, x):
            return self.down_proj(F.gelu(self.up_proj(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = LlamaRMSNorm(dims)
            self.self_attn = Attention()
            self.post_attention_layernorm = LlamaRMSNorm(dims)
            self.mlp = MLP()

        def forward(self, x):
            h = x + self.self_attn(self.input_layernorm(x))
            return h + self.mlp(self.post_attention_layernorm(h))

    class TinyGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, dims)
            self.wpe = nn.Embedding(block, dims)
            self.layers = nn.ModuleList(Block() for _ in range(layers))
            self.norm = LlamaRMSNorm(dims)
            self.lm_head = nn.Linear(dims, vocab, bias=False)
            resid = 0.02 / math.sqrt(2 * layers)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = resid if ("o_proj" in name or "down_proj" in name) else 0.02
                    nn.init.normal_(p, 0.0, std)

        def forward(self, ids):
            T = ids.shape[-1]
            pos = torch.arange(T)
            x = self.wte(ids) + self.wpe(pos)
            for layer in self.layers:
                x = layer(x)
            return self.lm_head(self.norm(x))

        def loss(self, ids, targets):
            return F.cross_entropy(self.forward(ids).view(-1, vocab), targets)

    return TinyGPT()


class TorchTrainer:
    def __init__(self, torch, name, sizes=None):
        """name's configuration, or sizes (layers, dims, heads, block, batch,
        warm-up steps)."""
        layers, dims, heads, block, batch, self.warmup = sizes or CONFIGS[name]
        self.torch, self.batch, self.block = torch, batch, block
        torch.manual_seed(42)
        self.model = build_gpt(torch, layers, dims, heads, block)
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        self.gen = torch.Generator().manual_seed(1234)
        self.nparams = sum(p.numel() for p in self.model.parameters())
        self.loss = float("nan")

    def batch_tensors(self):
        seq = self.torch.randint(0, VOCAB, (self.batch, self.block + 1), generator=self.gen)
        return seq[:, :-1], seq[:, 1:].reshape(-1)

    def step(self, split=None):
        t0 = time.perf_counter() if split else 0
        ids, targets = self.batch_tensors()
        loss = self.model.loss(ids, targets)
        t1 = time.perf_counter() if split else 0
        loss.backward()
        t2 = time.perf_counter() if split else 0
        self.opt.step()
        self.opt.zero_grad(set_to_none=False)
        if split:
            t3 = time.perf_counter()
            split[0] += t1 - t0
            split[1] += t2 - t1
            split[2] += t3 - t2
        self.loss = loss.item()


def torch_op_floor(torch):
    """Seconds per op of a chain of y * 1.0 on a one-element tensor that
    requires a gradient: forward (recording) and backward; medians of 9."""
    x = torch.ones(1, requires_grad=True)
    n, f, b = 2000, [], []
    for r in range(11):
        t0 = time.perf_counter()
        y = x
        for _ in range(n):
            y = y * 1.0
        t1 = time.perf_counter()
        y.backward()
        t2 = time.perf_counter()
        if r >= 2:
            f.append((t1 - t0) / n)
            b.append((t2 - t1) / n)
    return statistics.median(f), statistics.median(b)


def compare_train(args, torch):
    """ag's and PyTorch's training steps, in --rounds rounds: each round runs
    bench-train and then PyTorch on every configuration, and each side's
    figure is its median over the rounds (the machine's speed drifts between
    the two sides of one round; alternating rounds spread it over both)."""
    if args.ag_train_csv:
        with open(args.ag_train_csv) as f:
            saved = read_csv(f.read(), args.ag_train_csv)
        counts = None
    else:
        exe = program(args, "bench-train")
        counts = {r["config"]: int(r["params"])
                  for r in run_csv([exe, "--count-params", "--config", args.config])}
    torch.set_num_threads(args.threads)
    ag_ms, ag_tps, torch_ms, nparams = {}, {}, {}, {}
    micro = None  # the last round's micro trainer, warm, and its group size
    for rnd in range(args.rounds):
        ag_rows = saved if args.ag_train_csv else run_csv(
            [exe, "--csv", "--config", args.config, "--threads", str(args.threads),
             "--groups", str(args.groups)])
        need_columns(ag_rows, ["impl", "config", "threads", "ms", "tokens_per_s"], "bench-train")
        ag = {r["config"]: r for r in ag_rows if r["impl"] == "ag"}
        for name in args.config_list:
            if name not in ag:
                continue
            if rnd == 0 and int(ag[name]["threads"]) != args.threads:
                log(f"bench_torch.py: ag's {name} row ran {ag[name]['threads']} threads, "
                    f"PyTorch runs {args.threads}")
            log(f"PyTorch: training {name} (round {rnd + 1} of {args.rounds}) ...")
            t = TorchTrainer(torch, name)
            med, _, per = time_checked(t, name, counts, args.groups)
            ag_ms.setdefault(name, []).append(float(ag[name]["ms"]))
            ag_tps.setdefault(name, []).append(float(ag[name]["tokens_per_s"]))
            torch_ms.setdefault(name, []).append(1e3 * med)
            nparams[name] = t.nparams
            if name == "micro":
                micro = (t, per)
            del t
    results, notes = [], []
    for name in args.config_list:
        if name not in ag_ms:
            log(f"bench_torch.py: no ag row for config {name}; skipped")
            continue
        t_ms = statistics.median(torch_ms[name])
        block, batch = CONFIGS[name][3], CONFIGS[name][4]
        tokens = batch * block
        results.append({
            "bench": "train", "op": name, "pass": "step", "rows": batch,
            "dim": block, "ag_impl": "ag", "threads": args.threads,
            "ag_ms": statistics.median(ag_ms[name]), "torch_ms": t_ms,
            "ag_gbps": "", "torch_gbps": "", "params": nparams[name],
            "ag_tokens_per_s": statistics.median(ag_tps[name]),
            "torch_tokens_per_s": tokens / (t_ms / 1e3),
        })
        if args.rounds > 1:
            notes.append(f"{name}: the {args.rounds} rounds' ratios " +
                         ", ".join(f"{t / a:.2f}x" for a, t in zip(ag_ms[name], torch_ms[name])) +
                         " (ag " + ", ".join(f"{m:.4g}" for m in ag_ms[name]) +
                         " ms; PyTorch " + ", ".join(f"{m:.4g}" for m in torch_ms[name]) + " ms)")
        if name == "micro":
            t, per = micro
            split, k = [0.0, 0.0, 0.0], args.groups * per
            for _ in range(k):
                t.step(split)
            us = [1e6 * s / k for s in split]
            ff, bf = torch_op_floor(torch)
            notes.append(
                f"PyTorch micro step, mean of {k}: {sum(us):.1f} us = forward {us[0]:.1f} + "
                f"backward {us[1]:.1f} + AdamW and zero_grad {us[2]:.1f}\n"
                f"PyTorch op floor (a chain of y * 1.0 on one element): forward "
                f"{1e9 * ff:.0f} ns, backward {1e9 * bf:.0f} ns per op\n"
                f"(ag's: build/bin/bench-train --config micro)")
            del t
    return results, notes


# ---- scale ------------------------------------------------------------------------


def torch_scale(a, torch, counts):
    """PyTorch's median ms per step of each distinct sweep configuration."""
    torch.set_num_threads(a.threads)
    ms = {}
    for _, name, batch, dims in SCALE:
        if (batch, dims) in ms:
            continue
        log(f"PyTorch: {name} (batch {batch}, {dims} dims) ...")
        t = TorchTrainer(torch, name, (4, dims, 4, 64, batch, 3))
        med, _, _ = time_checked(t, name, counts, a.groups)
        ms[(batch, dims)] = 1e3 * med
        del t
    return {name: ms[(batch, dims)] for _, name, batch, dims in SCALE}


def compare_scale(a, torch):
    import tempfile
    exe = program(a, "bench-train")
    counts = {r["config"]: int(r["params"])
              for r in run_csv([exe, "--scale", "--count-params"])}
    log(f"PyTorch {torch.__version__} ({sys.executable}), {a.threads} thread(s)")
    t_ms = torch_scale(a, torch, counts)
    cmd = [exe, "--scale", "--csv", "--threads", str(a.threads), "--groups", str(a.groups)]
    with tempfile.TemporaryDirectory(prefix="bench_scale") as tmp:
        if a.plot:
            path = os.path.join(tmp, "torch.csv")
            with open(path, "w") as f:
                f.write("config,torch_ms\n")
                for name, v in t_ms.items():
                    f.write(f"{name},{v:.6f}\n")
            cmd += ["--plot", a.plot, "--torch-csv", path]
        log("running " + " ".join([os.path.basename(cmd[0])] + cmd[1:]))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.stderr.strip():
        log(r.stderr.strip())  # the plot's outcome
    if r.returncode != 0:
        log(f"bench_torch.py: bench-train failed (exit {r.returncode})")
        sys.exit(1)
    rows = read_csv(r.stdout, "bench-train --scale")
    need_columns(rows, ["sweep", "config", "batch", "n_embd", "gflop", "ms", "floor_ms"],
                 "bench-train --scale")
    out = []
    for row in rows:
        out.append({"sweep": row["sweep"], "config": row["config"], "batch": int(row["batch"]),
                    "n_embd": int(row["n_embd"]), "gflop": float(row["gflop"]),
                    "ag_ms": float(row["ms"]), "floor_ms": float(row["floor_ms"]),
                    "torch_ms": t_ms[row["config"]]})
    first = {}
    for o in out:  # growth against the first point of the sweep
        f = first.setdefault(o["sweep"], o)
        flops = o["gflop"] / f["gflop"]
        o["ag_growth"] = o["ag_ms"] / f["ag_ms"] / flops
        o["torch_growth"] = o["torch_ms"] / f["torch_ms"] / flops
    if a.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        cols = ["sweep", "config", "batch", "n_embd", "gflop", "ag_ms", "floor_ms", "torch_ms",
                "ag_growth", "torch_growth"]
        w.writerow(cols + ["threads"])
        for o in out:
            w.writerow([o[c] if isinstance(o[c], (str, int)) else f"{o[c]:.6g}" for c in cols] +
                       [a.threads])
        return 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"The training step as batch and width double: ag against PyTorch "
          f"{torch.__version__}; 4 layers, 4 heads, block 64; {a.threads} "
          f"thread{'s' if a.threads > 1 else ''}; 1-minute load average {load:.2f}")
    print(f"{'sweep':<6} {'config':<6} {'batch':>5} {'dims':>4} {'GFLOP':>8} {'ag ms':>9} "
          f"{'floor ms':>9} {'ag/floor':>8} {'torch ms':>9} {'torch/ag':>8} "
          f"{'ag grow':>8} {'torch grow':>10}")
    for o in out:
        print(f"{o['sweep']:<6} {o['config']:<6} {o['batch']:>5} {o['n_embd']:>4} "
              f"{o['gflop']:>8.3f} {o['ag_ms']:>9.4g} {o['floor_ms']:>9.4g} "
              f"{o['ag_ms'] / o['floor_ms']:>7.2f}x {o['torch_ms']:>9.4g} "
              f"{o['torch_ms'] / o['ag_ms']:>7.2f}x {o['ag_growth']:>8.2f} "
              f"{o['torch_growth']:>10.2f}")
    print("grow: (ms / the sweep's first ms) / (GFLOP / its first GFLOP): 1.00 when the time "
          "grows with the FLOPs; below 1 it grows more slowly (fixed costs spread over more "
          "work), above 1 faster")
    return 0


# ---- norms in PyTorch ------------------------------------------------------------


def torch_norm_rows(torch, shapes, reps_opt):
    F = torch.nn.functional
    rows = []
    for R, D in shapes:
        reps = reps_opt or (5 if R * D >= BIG_ELEMENTS else 7)
        nbytes = R * D * 4
        gen = torch.Generator().manual_seed(R * 7919 + D)
        x = torch.randn(R, D, generator=gen).requires_grad_()
        dy = torch.randn(R, D, generator=gen)
        w = (1 + 0.1 * torch.randn(D, generator=gen)).requires_grad_()
        b = (0.1 * torch.randn(D, generator=gen)).requires_grad_()

        def rms():
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * w

        def ln():
            return F.layer_norm(x, (D,), w, b, LN_EPS)

        def clear():
            x.grad = w.grad = b.grad = None

        for op, f in (("rmsnorm", rms), ("layernorm", ln)):
            log(f"PyTorch: {op} {R}x{D} ...")
            t_fwd = time_pass(f, lambda: None, reps)
            y = f()
            t_bwd = time_pass(lambda: y.backward(dy, retain_graph=True), clear, reps)
            del y
            t_fb = time_pass(lambda: f().backward(dy), clear, reps)
            clear()
            for pas, t, k in (("fwd", t_fwd, 2), ("bwd", t_bwd, 3), ("fwdbwd", t_fb, 5)):
                rows.append({"impl": "torch", "op": op, "pass": pas, "rows": R, "dim": D,
                             "ms": 1e3 * t, "gbps": k * nbytes / t / 1e9})
        del x, dy, w, b
    return rows


def compare_norms(args, torch):
    if args.ag_norms_csv:
        with open(args.ag_norms_csv) as f:
            ag_rows = read_csv(f.read(), args.ag_norms_csv)
    else:
        exe = program(args, "bench-norms")
        cmd = [exe, "--csv", "--shapes", ",".join(f"{r}x{d}" for r, d in args.shape_list),
               "--threads", str(args.norm_threads)]
        if args.reps:
            cmd += ["--reps", str(args.reps)]
        ag_rows = run_csv(cmd)
    need_columns(ag_rows, ["impl", "op", "pass", "rows", "dim", "ms", "gbps"], "bench-norms")
    ag = {}
    for r in ag_rows:
        ag[(r["impl"], r["op"], r["pass"], int(r["rows"]), int(r["dim"]))] = r
    torch.set_num_threads(args.norm_threads)
    trows = torch_norm_rows(torch, args.shape_list, args.reps)
    results = []
    for t in trows:
        for impl in ("ag", "ag_composed"):
            a = ag.get((impl, t["op"], t["pass"], t["rows"], t["dim"]))
            if a is None:
                if impl == "ag":
                    log(f"bench_torch.py: no ag row for {t['op']} {t['pass']} "
                        f"{t['rows']}x{t['dim']}")
                continue
            results.append({
                "bench": "norms", "op": t["op"], "pass": t["pass"], "rows": t["rows"],
                "dim": t["dim"], "ag_impl": impl, "threads": args.norm_threads,
                "ag_ms": float(a["ms"]), "torch_ms": t["ms"], "ag_gbps": float(a["gbps"]),
                "torch_gbps": t["gbps"],
            })
    return results


# ---- words: a whole training run of tinygpt and of PyTorch -----------------------

SPLIT_SEED = 20240611  # tinygpt's train/validation split
EOT = 0                # the '.' token
IGNORE = -100          # targets past a word's end (tinygpt's ignore_index)
MASK64 = (1 << 64) - 1


class AgRng:
    """ag's generator (core/rng.c): xoshiro256** seeded through splitmix64."""

    def __init__(self, seed):
        x, self.s = seed & MASK64, []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        r = (s[1] * 5) & MASK64
        result = ((((r << 7) | (r >> 57)) & MASK64) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & MASK64
        return result

    def below(self, n):
        limit = MASK64 - MASK64 % n  # UINT64_MAX - UINT64_MAX % n: reject the biased tail
        while True:
            x = self.u64()
            if x < limit:
                return x % n


def load_words(path, maxlen):
    """tinygpt's data: (train, val, id_of, vocab), words as bytes. Without
    --data, the lines of DICT_PATH that are lowercase a-z; with it, every
    non-empty line. Trailing \\n and \\r are cut, longer items than maxlen
    left out; the vocabulary is '.' then the bytes present in byte order."""
    dict_mode = path is None
    try:
        with open(DICT_PATH if dict_mode else path, "rb") as f:
            lines = f.read().split(b"\n")
    except OSError as e:
        log(f"bench_torch.py: cannot read the word list: {e}" +
            (" (Debian package wamerican)" if dict_mode else ""))
        sys.exit(1)
    words = []
    for ln in lines:
        ln = ln.rstrip(b"\r\n")
        if not ln or (dict_mode and not all(97 <= c <= 122 for c in ln)):
            continue
        if len(ln) <= maxlen:
            words.append(ln)
    present = sorted({c for w in words for c in w})
    id_of = {c: i + 1 for i, c in enumerate(present)}
    r = AgRng(SPLIT_SEED)
    for i in range(len(words) - 1, 0, -1):
        j = r.below(i + 1)
        words[i], words[j] = words[j], words[i]
    nval = max(1, len(words) // 10)
    return words[:-nval], words[-nval:], id_of, 1 + len(present)


def unigram_entropy(train, id_of):
    counts = {}
    for w in train:
        for c in w:
            counts[id_of[c]] = counts.get(id_of[c], 0) + 1
        counts[EOT] = counts.get(EOT, 0) + 1
    total = sum(counts.values())
    return -sum(n / total * math.log(n / total) for n in counts.values())


def make_batch(torch, words, id_of):
    """tinygpt's make_batch: ids [n, T], targets [n*T], T = longest + 1."""
    T = max(len(w) for w in words) + 1
    ids, tgt = [], []
    for w in words:
        x = [id_of[c] for c in w]
        ids.append([EOT] + x + [EOT] * (T - 1 - len(x)))
        tgt.append(x + [EOT] + [IGNORE] * (T - 1 - len(x)))
    return torch.tensor(ids), torch.tensor(tgt).view(-1)


def schedule_factor(step, warmup, total, min_ratio):
    """ag_schedule_warmup_cosine's factor at step (the steps done before)."""
    if step < warmup:
        return step / max(warmup, 1)
    progress = min(1.0, (step - warmup) / max(total - warmup, 1))
    return 0.5 * (1 + math.cos(math.pi * progress)) * (1 - min_ratio) + min_ratio


def read_f32_safetensors(torch, path):
    """The F32 tensors of a safetensors file (8-byte little-endian header
    length, JSON header, raw data), by name."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, h in header.items():
        if h["dtype"] != "F32":
            log(f"bench_torch.py: {path}: {name} is {h['dtype']}, expected F32")
            sys.exit(1)
        lo, hi = h["data_offsets"]
        t = torch.frombuffer(bytearray(data[8 + n + lo:8 + n + hi]), dtype=torch.float32)
        out[name] = t.reshape(h["shape"]).clone()
    return out


def run_tinygpt(args, tmp, name, extra):
    """Runs tinygpt with the run's flags and extra ones (output folders under
    tmp/name); returns its stdout, or exits after its stderr."""
    exe = program(args, "tinygpt")
    os.makedirs(os.path.join(tmp, name))  # made here: tinygpt then leaves tmp as it is
    cmd = [exe, "--layers", args.layers, "--embd", args.embd, "--heads", args.heads,
           "--block", args.block, "--batch", args.batch, "--steps", args.schedule_steps,
           "--lr", repr(args.lr), "--beta1", repr(args.beta1), "--beta2", repr(args.beta2),
           "--weight-decay", repr(args.weight_decay), "--warmup", args.warmup,
           "--min-lr-frac", repr(args.min_lr_frac), "--clip", repr(args.clip),
           "--seed", args.seed, "--threads", args.threads, "--gradcheck-every", 0,
           "--samples", 0, "--out", os.path.join(tmp, name)] + extra
    if args.data:
        cmd += ["--data", args.data]
    cmd = [str(c) for c in cmd]
    log("running tinygpt " + " ".join(cmd[1:]))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        log(f"bench_torch.py: tinygpt failed (exit {r.returncode}):\n{r.stderr.strip()}")
        sys.exit(1)
    return r.stdout


def tinygpt_init(torch, args, tmp):
    """tinygpt's initial weights: after its first step, at lr 0 (the warmup's
    first factor), AdamW has left them as they were."""
    run_tinygpt(args, tmp, "init-out", ["--stop-after", 1, "--eval-every", 1, "--eval-words", 1,
                                        "--save", os.path.join(tmp, "init")])
    return read_f32_safetensors(torch, os.path.join(tmp, "init", "model.safetensors"))


def words_tinygpt(args, tmp):
    """Runs tinygpt; returns (its per-step losses, the figures read from its
    output: train_s, val, params, split, baseline)."""
    log_path = os.path.join(tmp, "loss.txt")
    extra = ["--eval-every", args.steps, "--eval-words", 256, "--loss-log", log_path]
    if args.steps < args.schedule_steps:
        extra += ["--stop-after", args.steps]
    out = run_tinygpt(args, tmp, "out", extra)
    with open(log_path) as f:
        losses = [float(ln.split()[1]) for ln in f if ln.strip()]
    found = {}
    for key, pat in (("train_s", r"^time .* training ([0-9.]+) s"),
                     ("val", r"^final: .* validation ([0-9.]+) nats"),
                     ("params", r"^total params: ([0-9]+)"),
                     ("split", r"^split \(fixed seed\): ([0-9]+) train, ([0-9]+) validation"),
                     ("baseline", r"^baseline: .* is ([0-9.]+) nats")):
        m = re.search(pat, out, re.M)
        if not m:
            log(f"bench_torch.py: no '{pat}' line in tinygpt's output")
            sys.exit(1)
        found[key] = m.groups() if key == "split" else m.group(1)
    return losses, found


class WordsTrainer:
    """The PyTorch side: tinygpt's step (forward, loss, backward, clipping,
    the scheduled lr, AdamW, zero_grad) on tinygpt's batches."""

    def __init__(self, torch, a, vocab):
        self.torch, self.a = torch, a
        torch.manual_seed(a.torch_seed)
        self.model = build_gpt(torch, a.layers, a.embd, a.heads, a.block, vocab)
        self.params = list(self.model.parameters())
        decay = [p for p in self.params if p.dim() >= 2]
        no_decay = [p for p in self.params if p.dim() < 2]
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": a.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8)
        self.nparams = sum(p.numel() for p in self.params)
        self.done = 0

    def step(self, ids, targets):
        a = self.a
        loss = self.model.loss(ids, targets)
        loss.backward()
        if a.clip > 0:
            self.torch.nn.utils.clip_grad_norm_(self.params, a.clip)
        lr = a.lr * schedule_factor(self.done, a.warmup, a.schedule_steps, a.min_lr_frac)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()
        self.opt.zero_grad(set_to_none=False)
        self.done += 1
        return loss.item()

    def evaluate(self, words, id_of):
        """Mean loss per target token, in batches of 256 as tinygpt."""
        total, count = 0.0, 0
        with self.torch.no_grad():
            for i in range(0, len(words), 256):
                ids, tgt = make_batch(self.torch, words[i:i + 256], id_of)
                k = int((tgt != IGNORE).sum())
                total += self.model.loss(ids, tgt).item() * k
                count += k
        return total / count


def compare_words(a, torch):
    import tempfile
    torch.set_num_threads(a.threads)
    log(f"PyTorch {torch.__version__} ({sys.executable}), {a.threads} thread(s)")
    train, val, id_of, vocab = load_words(a.data, a.block - 1)
    baseline = unigram_entropy(train, id_of)
    with tempfile.TemporaryDirectory(prefix="bench_words") as tmp:
        init = tinygpt_init(torch, a, tmp) if a.same_init else None
        ag_losses, found = words_tinygpt(a, tmp)
    # the same data: the split's sizes and the training words' unigram entropy
    if tuple(map(int, found["split"])) != (len(train), len(val)) or \
            found["baseline"] != f"{baseline:.4f}":
        log(f"bench_torch.py: tinygpt splits {found['split'][0]} train and {found['split'][1]} "
            f"validation words with baseline {found['baseline']}; this script {len(train)} and "
            f"{len(val)} with {baseline:.4f}: the data differ")
        sys.exit(1)
    trainer = WordsTrainer(torch, a, vocab)
    if init is not None:
        trainer.model.load_state_dict(init, strict=True)
    if int(found["params"]) != trainer.nparams:
        log(f"bench_torch.py: tinygpt has {found['params']} parameters, the PyTorch model "
            f"{trainer.nparams}: the models differ")
        sys.exit(1)
    if len(ag_losses) != a.steps:
        log(f"bench_torch.py: tinygpt's loss log has {len(ag_losses)} steps, expected {a.steps}")
        sys.exit(1)
    log(f"PyTorch: {a.steps} steps ...")
    rng = AgRng(a.seed + 1)
    t_losses, t_train, t_wall = [], 0.0, time.perf_counter()
    for s in range(a.steps):
        ids, tgt = make_batch(torch, [train[rng.below(len(train))] for _ in range(a.batch)],
                              id_of)
        t0 = time.perf_counter()
        t_losses.append(trainer.step(ids, tgt))
        t_train += time.perf_counter() - t0
        if not math.isfinite(t_losses[-1]):
            log(f"bench_torch.py: PyTorch's loss is {t_losses[-1]} at step {s + 1}")
            sys.exit(1)
        if (s + 1) % 100 == 0:
            log(f"  step {s + 1}/{a.steps}, {time.perf_counter() - t_wall:.0f} s")
    t_wall = time.perf_counter() - t_wall
    t_val = trainer.evaluate(val, id_of)
    ag_ms, t_ms = 1e3 * float(found["train_s"]) / a.steps, 1e3 * t_train / a.steps
    ag_val = float(found["val"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"tinygpt against PyTorch {torch.__version__} on the word list: {a.layers} layers, "
          f"{a.embd} dims, {a.heads} heads, block {a.block}, batch {a.batch}, {trainer.nparams} "
          f"parameters; {a.steps} steps" +
          (f" of a {a.schedule_steps}-step schedule" if a.schedule_steps > a.steps else "") +
          ("; PyTorch starts from tinygpt's initial weights" if a.same_init else ""))
    print(f"AdamW lr {a.lr:g}, betas ({a.beta1:g}, {a.beta2:g}), eps 1e-8, weight decay "
          f"{a.weight_decay:g} on the matrices; warmup {a.warmup}, cosine to "
          f"{a.lr * a.min_lr_frac:g}; " +
          (f"clip {a.clip:g}" if a.clip > 0 else "no clipping") +
          f"; {a.threads} thread{'s' if a.threads > 1 else ''}; 1-minute load average "
          f"{load:.2f} at the end")
    print(f"split: {len(train)} train, {len(val)} validation words; vocabulary {vocab}")
    print(f"\n{'':<24} {'tinygpt':>10} {'PyTorch':>10}")
    ratio = (f"ratio {t_ms / ag_ms:.2f}x (target 5x: {'met' if t_ms / ag_ms >= 5 else 'MISSED'})"
             if ag_ms > 0 else "(tinygpt's time rounds to 0 s: no ratio)")
    print(f"{'ms per training step':<24} {ag_ms:>10.2f} {t_ms:>10.2f}   {ratio}")
    print(f"{'training s':<24} {ag_ms * a.steps / 1e3:>10.1f} {t_train:>10.1f}   "
          f"(PyTorch's whole loop, batches included: {t_wall:.1f} s)")
    print(f"\nbatch loss, mean over the last {a.window} steps (the same batches on both sides)")
    print(f"{'step':>6} {'tinygpt':>10} {'PyTorch':>10} {'diff':>8}")
    marks = list(range(a.every, a.steps + 1, a.every))
    if not marks or marks[-1] != a.steps:
        marks.append(a.steps)
    for m in marks:
        lo = max(0, m - a.window)
        x = sum(ag_losses[lo:m]) / (m - lo)
        y = sum(t_losses[lo:m]) / (m - lo)
        print(f"{m:>6} {x:>10.4f} {y:>10.4f} {x - y:>+8.4f}")
    k = max(range(a.steps), key=lambda i: abs(ag_losses[i] - t_losses[i]))
    print(f"largest difference of one step's batch losses: {ag_losses[k] - t_losses[k]:+.2e} "
          f"at step {k + 1}")
    d = ag_val - t_val
    print(f"\nfinal validation loss (all {len(val)} words): tinygpt {ag_val:.4f}, PyTorch "
          f"{t_val:.4f}, difference {d:+.4f} (target within 0.02: "
          f"{'met' if abs(d) <= 0.02 else 'MISSED'})")
    return 0


# ---- output ----------------------------------------------------------------------


# The norm targets are judged at Llama's benchmark shape, 64x512x4096.
TARGET_SHAPE = (32768, 4096)


def target_of(r):
    if r["ag_impl"] != "ag":
        return None
    if r["bench"] == "norms" and (int(r["rows"]), int(r["dim"])) != TARGET_SHAPE:
        return None
    return TARGETS.get((r["bench"], r["op"], r["pass"]))


CSV_COLUMNS = ["bench", "op", "pass", "rows", "dim", "threads", "ag_impl", "ag_ms", "torch_ms",
               "ratio", "target", "meets_target", "ag_gbps", "torch_gbps"]


def print_csv(results):
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        ratio = r["torch_ms"] / r["ag_ms"]
        tgt = target_of(r)
        g = lambda k: "" if r.get(k, "") == "" else f"{r[k]:.2f}"
        w.writerow([r["bench"], r["op"], r["pass"], r["rows"], r["dim"], r["threads"],
                    r["ag_impl"], f"{r['ag_ms']:.6f}", f"{r['torch_ms']:.6f}", f"{ratio:.3f}",
                    "" if tgt is None else f"{tgt:g}",
                    "" if tgt is None else ("yes" if ratio >= tgt else "no"),
                    g("ag_gbps"), g("torch_gbps")])


def verdict(r):
    tgt = target_of(r)
    if tgt is None:
        return ""
    ratio = r["torch_ms"] / r["ag_ms"]
    return f"target {tgt:g}x: " + ("met" if ratio >= tgt else "MISSED")


def print_train_table(results, notes, threads):
    if not results:
        return
    print(f"\nTraining step of the tiny GPT ({threads} thread{'s' if threads > 1 else ''}; "
          "median over groups, then over rounds; ratio = PyTorch ms / ag ms)")
    print(f"{'config':<7} {'params':>8} {'batch x block':>13} {'ag ms':>10} {'torch ms':>10} "
          f"{'ratio':>7} {'ag tok/s':>10} {'torch tok/s':>11}")
    for r in results:
        ratio = r["torch_ms"] / r["ag_ms"]
        print(f"{r['op']:<7} {r['params']:>8} {str(r['rows']) + ' x ' + str(r['dim']):>13} "
              f"{r['ag_ms']:>10.4g} {r['torch_ms']:>10.4g} {ratio:>6.2f}x "
              f"{r['ag_tokens_per_s']:>10.0f} {r['torch_tokens_per_s']:>11.0f}  {verdict(r)}")
    for n in notes:
        print(n)


def print_norm_table(results, threads):
    if not results:
        return
    print(f"\nNorms, f32 ({threads} thread{'s' if threads > 1 else ''}; ag = fused kernels, "
          "ag_composed = RMSNorm from elementwise ops; PyTorch: composed RMSNorm, F.layer_norm; "
          "ratio = PyTorch ms / ag ms)")
    print(f"{'op':<10} {'pass':<7} {'shape':>11} {'impl':<12} {'ag ms':>10} {'GB/s':>6} "
          f"{'torch ms':>10} {'GB/s':>6} {'ratio':>8}")
    shape = None
    for r in results:
        if shape is not None and shape != (r["rows"], r["dim"]):
            print()
        shape = (r["rows"], r["dim"])
        ratio = r["torch_ms"] / r["ag_ms"]
        print(f"{r['op']:<10} {r['pass']:<7} {str(r['rows']) + 'x' + str(r['dim']):>11} "
              f"{r['ag_impl']:<12} {r['ag_ms']:>10.4g} {r['ag_gbps']:>6.1f} "
              f"{r['torch_ms']:>10.4g} {r['torch_gbps']:>6.1f} {ratio:>7.2f}x  {verdict(r)}")


def main():
    args = parse_args()
    # torch.set_num_threads does not reach the BLAS that Debian's PyTorch
    # calls (OpenBLAS's own thread pool, sized when the library loads): at
    # "1 thread" its matrix products ran on every core. The pool gets the
    # same thread count as the rest, before torch (and with it OpenBLAS) loads.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    try:
        import torch
    except ImportError:
        print(f"bench_torch.py: PyTorch is not installed for {sys.executable}; "
              "install it with: apt-get install python3-torch")
        return 0
    if args.mode == "words":
        return compare_words(args, torch)
    if args.mode == "scale":
        return compare_scale(args, torch)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    log(f"PyTorch {torch.__version__} ({sys.executable})")
    train, notes, norms = [], [], []
    if not args.skip_train:
        train, notes = compare_train(args, torch)
    if not args.skip_norms:
        norms = compare_norms(args, torch)
    if args.csv:
        print_csv(train + norms)
    else:
        print(f"ag against PyTorch {torch.__version__}; {os.cpu_count()} CPUs, 1-minute load "
              f"average {load:.2f} before the run (well above 0: other programs were running "
              "and the figures are noisy)")
        print_train_table(train, notes, args.threads)
        print_norm_table(norms, args.norm_threads)
        if train or norms:
            print("\nratio above 1: ag is faster; targets apply to the training step and to "
                  "ag's fused kernels at 32768x4096")
    return 0


if __name__ == "__main__":
    sys.exit(main())
