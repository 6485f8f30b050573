#!/usr/bin/python3
"""bench_backbone_torch.py - PyTorch twin of bench_backbone.c: torchvision ResNet-18 and
Wide-ResNet-50-2 (random weights, eval, no_grad, BatchNorm left in as torchvision runs it),
conv1 .. layer3, input side S, batch 1 and 8, torch.set_num_threads 1 and 2; best of R
after one warm-up (wall and process CPU time). Prints the same table and optionally writes
JSON.

  /usr/bin/python3 benchmarks/bench_backbone_torch.py [--size S] [--reps R] [--json FILE]
      [--only resnet18|wide_resnet50_2] [--batch N] [--threads T]
"""
import argparse
import json
import time

import torch
import torchvision


def trunk(m, x):
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    l1 = m.layer1(x)
    l2 = m.layer2(l1)
    return l1, l2, m.layer3(l2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--only", choices=("resnet18", "wide_resnet50_2"))
    ap.add_argument("--batch", type=int)
    ap.add_argument("--threads", type=int)
    a = ap.parse_args()
    torch.manual_seed(0)
    runs = []
    print(f"PyTorch {torch.__version__} backbone forward, conv1..layer3, {a.size}x{a.size}, best of {a.reps}")
    print(f"{'backbone':<16} {'batch':>5} {'threads':>7} {'ms/batch':>10} {'ms/image':>10} {'cpu ms/image':>12}")
    for name, ctor in (("resnet18", torchvision.models.resnet18),
                       ("wide_resnet50_2", torchvision.models.wide_resnet50_2)):
        if a.only and a.only != name:
            continue
        model = ctor(weights=None).eval()
        for n in (a.batch,) if a.batch else (1, 8):
            x = torch.randn(n, 3, a.size, a.size)
            for threads in (a.threads,) if a.threads else (1, 2):
                torch.set_num_threads(threads)
                best = best_cpu = float("inf")
                with torch.no_grad():
                    for rep in range(a.reps + 1):  # rep 0: warm-up
                        t0, c0 = time.perf_counter(), time.process_time()
                        trunk(model, x)
                        t, c = time.perf_counter() - t0, time.process_time() - c0
                        if rep > 0:
                            best, best_cpu = min(best, t), min(best_cpu, c)
                print(f"{name:<16} {n:>5} {threads:>7} {best * 1e3:>10.1f} {best * 1e3 / n:>10.1f} {best_cpu * 1e3 / n:>12.1f}", flush=True)
                runs.append({"backbone": name, "batch": n, "threads": threads,
                             "ms_per_batch": round(best * 1e3, 3), "ms_per_image": round(best * 1e3 / n, 3),
                             "cpu_ms_per_image": round(best_cpu * 1e3 / n, 3)})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"bench": "backbone_torch", "torch": torch.__version__, "size": a.size,
                       "reps": a.reps, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
