"""The convolutions of a profiled training step, timed with PyTorch + cuDNN on the same GPU.

    deno run -A bench/train_bench.ts --profile --only ffhq512-b8     # writes $OUT or bench/results
    python3 bench/conv_shapes_torch.py bench/results/<file>.json [--top 30]

Reads the `profile.shapes` rows of each case (op, geometry "N C H W O k s p g", our ms per
step and dispatches), times the same convolution in PyTorch (fp32, TF32 off, cudnn.benchmark on:
its best algorithm), and prints ours against cuDNN per dispatch, slowest first. Forward rows
(`conv2d*`) time F.conv2d, input-gradient rows conv2d_input, weight-gradient rows conv2d_weight;
our weight gradient's split-K reduction is a separate `reduce_sum` dispatch, not included.
"""

import json
import re
import sys

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True

SHAPE = re.compile(
    r"N(\d+) C(\d+) H(\d+) W(\d+) O(\d+) k(\d+)x(\d+) s(\d+)x(\d+) p(\d+)x(\d+) g(\d+)"
)


def time_ms(fn, repeats=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def cudnn_ms(op, geometry):
    n, c, h, w, o, kh, kw, sy, sx, py, px, g = (int(v) for v in geometry.groups())
    dev = "cuda"
    x = torch.randn(n, c, h, w, device=dev)
    weight = torch.randn(o, c // g, kh, kw, device=dev)
    args = dict(stride=(sy, sx), padding=(py, px), groups=g)
    y = F.conv2d(x, weight, **args)
    if op.startswith("conv2d_input_grad"):
        return time_ms(lambda: torch.nn.grad.conv2d_input(x.shape, weight, y, **args))
    if op.startswith("conv2d_weight_grad"):
        return time_ms(lambda: torch.nn.grad.conv2d_weight(x, weight.shape, y, **args))
    return time_ms(lambda: F.conv2d(x, weight, **args))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 30
    report = json.load(open(sys.argv[1]))
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for row in report["rows"]:
        shapes = (row.get("profile") or {}).get("shapes", [])
        convs = [s for s in shapes if s["op"].startswith("conv2d")][:top]
        if not convs:
            continue
        print(f"\n{row['name']} (batch {row['batch']}): ours vs cuDNN per dispatch")
        ours_total = theirs_total = 0.0
        for s in convs:
            geometry = SHAPE.fullmatch(s["shape"])
            if not geometry:
                continue
            ours = s["msPerStep"] / s["dispatchesPerStep"]
            theirs = cudnn_ms(s["op"], geometry)
            ours_total += s["msPerStep"]
            theirs_total += theirs * s["dispatchesPerStep"]
            print(
                f"  {s['op']:<28} {s['shape']:<52} {ours:8.3f} ms  cuDNN {theirs:8.3f} ms"
                f"  ×{ours / theirs:5.2f}  ({s['dispatchesPerStep']:.1f}/step)"
            )
        print(
            f"  these rows per step: ours {ours_total:.1f} ms, cuDNN {theirs_total:.1f} ms"
            f" (×{ours_total / max(theirs_total, 1e-9):.2f})"
        )


if __name__ == "__main__":
    main()
