#!/usr/bin/python3
"""PyTorch CPU reference for `make bench`.

Builds the network from the same model-definition INI the nn engine reads
(configs/models/NAME.ini: [model], [train], then one section per layer), times
a training step (forward, cross-entropy, backward, optimiser step) and batched
inference with the same batch sizes and thread count as nnbench-bench, and
prints TSV lines that nnbench-bench --torch reads:

    torch   version       VERSION
    torch   threads       N
    torch   sgemm_gflops  G              (torch.mm at --peak-size, best of 5)
    torch   other_cpus    F              (CPUs other processes used on average)
    result  MODEL  train|infer  BATCH  IMAGES_PER_S  TRAINABLE_PARAMS
    layer   MODEL  LAYER  INFER_FWD_MS  TRAIN_FWD_MS  TRAIN_BWD_MS      (--profile)

Run it with Debian's /usr/bin/python3 (python3-torch); see bench/README.md.
"""
import argparse
import configparser
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Input shape and classes of the data sets the zoo names (datasets/ registry).
DATASETS = {
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
}

MAX_ITERS = 200
PROFILE_RUNS = 5


class IniError(Exception):
    pass


# ------------------------------------------------------------ INI attributes

def layer_defaults(op):
    """Attribute defaults as in nn/attrs.c layer_attrs_default."""
    pool = op in ("maxpool", "avgpool")
    return {
        "units": 0, "filters": 0,
        "kernel": (2, 2) if pool else (1, 1),
        "stride": (2, 2) if pool else (1, 1),
        "pad": (0, 0, 0, 0),
        "bias": True, "ceil_mode": False, "count_include_pad": False,
        "alpha": 1e-4 if op == "lrn" else 0.01,
        "beta": 0.75, "k": 1.0, "size": 5,
        "eps": 1e-5, "momentum": 0.1, "rate": 0.5,
    }


def parse_attr(where, key, value):
    """One attribute from text, in the forms nn/attrs.c accepts."""
    v = value.strip()
    try:
        if key in ("bias", "ceil_mode", "count_include_pad"):
            if v.lower() in ("yes", "true", "1"):
                return True
            if v.lower() in ("no", "false", "0"):
                return False
            raise ValueError
        nums = [x.strip() for x in v.split(",")]
        if key in ("kernel", "stride"):
            p = [int(x) for x in nums]
            if len(p) not in (1, 2):
                raise ValueError
            return (p[0], p[-1])
        if key == "pad":
            p = [int(x) for x in nums]
            if len(p) == 1:
                return (p[0],) * 4
            if len(p) == 4:
                return tuple(p)  # top, left, bottom, right
            raise ValueError
        if key in ("units", "filters", "size"):
            return int(v)
        if key in ("alpha", "beta", "k", "eps", "momentum", "rate"):
            return float(v)
    except ValueError:
        raise IniError(f"{where} {key}: bad value '{value}'")
    raise IniError(f"{where}: unknown key '{key}'")


# ----------------------------------------------------------------- the ops

class Conv(nn.Module):
    """conv with nnbench's (possibly asymmetric) zero padding."""

    def __init__(self, c_in, a):
        super().__init__()
        t, l, b, r = a["pad"]
        self.pre = None if (t == b and l == r) else (l, r, t, b)
        # PyTorch's default initialisation is also nnbench's (nn/init.c).
        self.conv = nn.Conv2d(c_in, a["filters"], a["kernel"], a["stride"],
                              padding=(t, l) if self.pre is None else 0, bias=a["bias"])

    def forward(self, x):
        return self.conv(x if self.pre is None else F.pad(x, self.pre))


class Dense(nn.Module):
    """dense over the flattened input; the output stays N×units×1×1 (nnbench's NCHW)."""

    def __init__(self, fan_in, a):
        super().__init__()
        self.fc = nn.Linear(fan_in, a["units"], bias=a["bias"])

    def forward(self, x):
        return self.fc(x.flatten(1))[:, :, None, None]


class Pool(nn.Module):
    """maxpool / avgpool with ONNX-style padding: symmetric pads go to PyTorch's
    own pooling; asymmetric ones are padded explicitly (-inf for max)."""

    def __init__(self, op, a, where):
        super().__init__()
        t, l, b, r = a["pad"]
        kh, kw = a["kernel"]
        sym = t == b and l == r and 2 * t <= kh and 2 * l <= kw
        self.pre = None if sym else (l, r, t, b)
        pad = (t, l) if sym else 0
        if op == "maxpool":
            self.fill = -math.inf
            self.pool = nn.MaxPool2d(a["kernel"], a["stride"], pad, ceil_mode=a["ceil_mode"])
        else:
            if not sym and not a["count_include_pad"]:
                raise IniError(f"{where}: asymmetric avgpool padding without count_include_pad "
                               "has no PyTorch equivalent here")
            self.fill = 0.0
            self.pool = nn.AvgPool2d(a["kernel"], a["stride"], pad, ceil_mode=a["ceil_mode"],
                                     count_include_pad=a["count_include_pad"])

    def forward(self, x):
        if self.pre is not None:
            x = F.pad(x, self.pre, value=self.fill)
        return self.pool(x)


class Add(nn.Module):
    def forward(self, *xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=1)


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1, 1, 1)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True)


# Which attributes each op accepts (the op table, nn/op_*.c).
OP_ATTRS = {
    "dense": ("units", "bias"),
    "conv": ("filters", "kernel", "stride", "pad", "bias"),
    "maxpool": ("kernel", "stride", "pad", "ceil_mode"),
    "avgpool": ("kernel", "stride", "pad", "ceil_mode", "count_include_pad"),
    "global_avgpool": (),
    "relu": (), "leaky_relu": ("alpha",), "sigmoid": (), "tanh": (),
    "lrn": ("size", "alpha", "beta", "k"),
    "batchnorm": ("eps", "momentum"),
    "dropout": ("rate",),
    "add": (), "concat": (), "flatten": (),
}
MULTI_INPUT = ("add", "concat")


def make_module(op, a, in_shapes, where):
    c, h, w = in_shapes[0]
    if op == "conv":
        if a["filters"] < 1:
            raise IniError(f"{where}: needs 'filters'")
        return Conv(c, a)
    if op == "dense":
        if a["units"] < 1:
            raise IniError(f"{where}: needs 'units'")
        return Dense(c * h * w, a)
    if op in ("maxpool", "avgpool"):
        return Pool(op, a, where)
    if op == "global_avgpool":
        return GlobalAvgPool()
    if op == "relu":
        return nn.ReLU()
    if op == "leaky_relu":
        return nn.LeakyReLU(a["alpha"])
    if op == "sigmoid":
        return nn.Sigmoid()
    if op == "tanh":
        return nn.Tanh()
    if op == "lrn":
        return nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"])
    if op == "batchnorm":
        # nnbench's momentum has PyTorch's meaning: running = (1-m)·running + m·batch.
        return nn.BatchNorm2d(c, eps=a["eps"], momentum=a["momentum"])
    if op == "dropout":
        return nn.Dropout(a["rate"])
    if op == "add":
        return Add()
    if op == "concat":
        return Concat()
    if op == "flatten":
        return Flatten()
    raise IniError(f"{where}: unknown op '{op}'")


# --------------------------------------------------------------- the graph

class IniNet(nn.Module):
    """A DAG of modules in topological order; layer 0 is the input. Each output
    is dropped after its last consumer, as an ordinary PyTorch model would."""

    def __init__(self, names, mods, inputs):
        super().__init__()
        self.names = names          # names[i] for layer i + 1
        self.mods = nn.ModuleList(mods)
        self.inputs = inputs        # inputs[i]: indices into [input, layer 1, ...]
        last = {}
        for i, ins in enumerate(inputs):
            for j in ins:
                last[j] = i
        self.free_after = [[j for j in ins if last[j] == i] for i, ins in enumerate(inputs)]

    def forward(self, x, clock=None):
        """clock (profiling): gets each layer's forward seconds in clock["fwd"][i]
        and, when gradients flow, the time its output's gradient is ready in
        clock["ready"][i]."""
        outs = [x] + [None] * len(self.mods)
        for i, mod in enumerate(self.mods):
            t0 = time.perf_counter()
            y = mod(*[outs[j] for j in self.inputs[i]])
            if clock is not None:
                clock["fwd"][i] = time.perf_counter() - t0
                if "ready" in clock and y.requires_grad:
                    y.register_hook(lambda g, i=i: clock["ready"].__setitem__(i, time.perf_counter()))
            outs[i + 1] = y
            for j in self.free_after[i]:
                outs[j] = None
        return outs[-1].flatten(1)


def build_from_ini(path):
    """Returns (net, input_shape, classes, recipe dict) for a model INI file."""
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"),
                                   strict=True, default_section="\x00none")
    try:
        with open(path) as f:
            cp.read_file(f)
    except (OSError, configparser.Error) as e:
        raise IniError(f"{path}: {e}")
    secs = {s.lower(): s for s in cp.sections()}  # iniparser folds names to lower case

    model = cp[secs["model"]] if "model" in secs else {}
    dataset = model.get("dataset", "").strip()
    if "input" in model:
        shape = tuple(int(v) for v in model["input"].split(","))
        if len(shape) != 3:
            raise IniError(f"{path}: [model] input: expected C,H,W")
    elif dataset in DATASETS:
        shape = DATASETS[dataset][0]
    else:
        raise IniError(f"{path}: [model] dataset '{dataset}' unknown and no input = C,H,W")
    recipe = dict(cp[secs["train"]]) if "train" in secs else {}

    names, mods, inputs = [], [], []
    index = {"input": 0}
    shapes = [shape]
    probe = [torch.zeros(1, *shape)]
    prev = "input"
    for sec in cp.sections():
        name = sec.lower()
        if name in ("model", "train"):
            continue
        where = f"{path}: [{sec}]"
        keys = dict(cp[sec])
        op = keys.pop("type", "").strip().lower()
        if op not in OP_ATTRS:
            raise IniError(f"{where} type: unknown op '{op}'")
        src = [s.strip().lower() for s in keys.pop("inputs", prev).split(",")]
        for s in src:
            if s not in index:
                raise IniError(f"{where} inputs: '{s}' is not an earlier layer")
        if len(src) != 1 and op not in MULTI_INPUT:
            raise IniError(f"{where} inputs: a {op} layer takes one input")
        a = layer_defaults(op)
        for k, v in keys.items():
            if k not in OP_ATTRS[op]:
                raise IniError(f"{where}: unknown key '{k}' for a {op} layer")
            a[k] = parse_attr(where, k, v)
        ids = [index[s] for s in src]
        mod = make_module(op, a, [shapes[j] for j in ids], where)
        # Shape inference by running the module once on a one-image probe.
        mod.eval()
        with torch.no_grad():
            y = mod(*[probe[j] for j in ids])
        index[name] = len(shapes)
        shapes.append(tuple(y.shape[1:]))
        probe.append(y)
        names.append(name)
        mods.append(mod)
        inputs.append(ids)
        prev = name
    if not mods:
        raise IniError(f"{path}: no layers")
    classes = math.prod(shapes[-1])
    return IniNet(names, mods, inputs), shape, classes, recipe


def make_optimizer(net, recipe):
    """The recipe's optimiser; weight decay on conv/dense weights only, as nn/optim.c."""
    decay, plain = [], []
    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            decay.append(mod.weight)
            if mod.bias is not None:
                plain.append(mod.bias)
        elif isinstance(mod, nn.BatchNorm2d):
            plain += [mod.weight, mod.bias]
    wd = float(recipe.get("weight_decay", 5e-4))
    groups = [{"params": decay, "weight_decay": wd}, {"params": plain, "weight_decay": 0.0}]
    lr = float(recipe.get("lr", 0.05))
    if recipe.get("optimizer", "sgd").strip() == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(float(recipe.get("beta1", 0.9)),
                                                      float(recipe.get("beta2", 0.999))))
    nesterov = recipe.get("nesterov", "yes").strip().lower() in ("yes", "true", "1")
    return torch.optim.SGD(groups, lr=lr, momentum=float(recipe.get("momentum", 0.9)),
                           nesterov=nesterov)


# ------------------------------------------------------------------- timing

def time_median(fn, warmup, min_iters, min_time):
    """Median seconds per call after warm-up; as nnbench-bench's time_median."""
    for _ in range(warmup):
        fn()
    t = []
    start = time.perf_counter()
    while len(t) < MAX_ITERS and (len(t) < min_iters or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


def cpu_snap():
    """(wall, CPU seconds of all processes incl. steal, ours): see cpu_snap in bench.c."""
    busy = float("nan")
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), busy, t.user + t.system


def cpu_other(a, b):
    """CPUs other processes used on average between two snapshots."""
    wall = b[0] - a[0]
    other = (b[1] - a[1]) - (b[2] - a[2])
    return max(other, 0.0) / wall if wall > 0 else float("nan")


def sgemm_gflops(n, reps=5):
    a, b = torch.rand(n, n) - 0.5, torch.rand(n, n) - 0.5
    torch.mm(a, b)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2.0 * n ** 3 / (time.perf_counter() - t0))
    return best * 1e-9


def profile_layers(net, step, x_infer):
    """Per layer, ms per batch (median of PROFILE_RUNS): its forward inside a
    full inference pass and its forward and backward inside a full training
    step (`step(clock)`), timed in place as nnbench-bench --profile does; plus
    the optimiser step. A layer's backward ends when the gradient of its input
    is ready (a tensor hook), the first layer's when backward() returns."""
    n = len(net.mods)
    runs = {"infer": [], "fwd": [], "bwd": [], "opt": []}
    net.eval()
    with torch.inference_mode():
        for r in range(2 + PROFILE_RUNS):
            clock = {"fwd": [0.0] * n}
            net(x_infer, clock=clock)
            if r >= 2:
                runs["infer"].append(clock["fwd"])
    net.train()
    for r in range(2 + PROFILE_RUNS):
        clock = {"fwd": [0.0] * n, "ready": [None] * n}
        step(clock)
        if r < 2:
            continue
        ready = clock["ready"]
        bwd = []
        for i in range(n):
            ends = [ready[j - 1] for j in net.inputs[i] if j > 0 and ready[j - 1] is not None]
            end = min(ends) if ends else clock["backward_end"]
            bwd.append(end - ready[i] if ready[i] is not None else float("nan"))
        runs["fwd"].append(clock["fwd"])
        runs["bwd"].append(bwd)
        runs["opt"].append(clock["opt"])

    def med(kind, i):
        return statistics.median(run[i] for run in runs[kind]) * 1e3

    rows = [(net.names[i], med("infer", i), med("fwd", i), med("bwd", i)) for i in range(n)]
    rows.append(("(optimizer)", float("nan"), float("nan"),
                 statistics.median(runs["opt"]) * 1e3))
    return rows


def bench_model(name, args, out):
    path = name if os.path.isfile(name) else os.path.join(args.zoo, name + ".ini")
    net, shape, classes, recipe = build_from_ini(path)
    model = os.path.splitext(os.path.basename(path))[0]
    train_batch = args.train_batch or int(recipe.get("batch", 64))
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    opt = make_optimizer(net, recipe)
    g = torch.Generator().manual_seed(42)
    x_train = torch.randn(train_batch, *shape, generator=g)
    y_train = torch.randint(0, classes, (train_batch,), generator=g)
    x_infer = torch.randn(args.infer_batch, *shape, generator=g)

    def train_step(clock=None):
        opt.zero_grad()
        loss = F.cross_entropy(net(x_train, clock), y_train)
        loss.backward()
        if clock is None:
            opt.step()
            return
        clock["backward_end"] = t0 = time.perf_counter()
        opt.step()
        clock["opt"] = time.perf_counter() - t0

    def infer_step():
        with torch.inference_mode():
            net(x_infer)

    net.train()
    ts = time_median(train_step, args.warmup, args.min_iters, args.min_time)
    net.eval()
    ti = time_median(infer_step, args.warmup, args.min_iters, args.min_time)
    print(f"result\t{model}\ttrain\t{train_batch}\t{train_batch / ts:.3f}\t{params}", file=out)
    print(f"result\t{model}\tinfer\t{args.infer_batch}\t{args.infer_batch / ti:.3f}\t{params}",
          file=out)
    if args.profile:
        for layer, inf, fwd, bwd in profile_layers(net, train_step, x_infer):
            print(f"layer\t{model}\t{layer}\t{inf:.4f}\t{fwd:.4f}\t{bwd:.4f}", file=out)
    out.flush()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", help="zoo name or INI path (repeatable; "
                   "default lenet5 and vgg-small)")
    p.add_argument("--zoo", default=os.path.join(here, "..", "configs", "models"))
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    p.add_argument("--train-batch", type=int, default=0, help="default: the recipe's batch")
    p.add_argument("--infer-batch", type=int, default=256)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-iters", type=int, default=5)
    p.add_argument("--min-time", type=float, default=2.0)
    p.add_argument("--peak-size", type=int, default=2048)
    p.add_argument("--profile", action="store_true", help="per-layer timings too")
    args = p.parse_args()

    start = cpu_snap()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    out = sys.stdout
    print(f"torch\tversion\t{torch.__version__}", file=out)
    print(f"torch\tthreads\t{torch.get_num_threads()}", file=out)
    print(f"torch\tsgemm_gflops\t{sgemm_gflops(args.peak_size):.2f}", file=out)
    try:
        for name in args.model or ["lenet5", "vgg-small"]:
            bench_model(name, args, out)
    except IniError as e:
        print(f"torch_bench.py: {e}", file=sys.stderr)
        return 2
    print(f"torch\tother_cpus\t{cpu_other(start, cpu_snap()):.4f}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
