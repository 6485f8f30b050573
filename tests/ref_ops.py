#!/usr/bin/python3
"""ref_ops.py - independent references for the CPU PaDiM operations (src/host/ops_cpu.c)
and the channel-subset generator (src/host/rng.c): dumps seeded inputs and the expected
outputs computed with Python's own `random`, NumPy, SciPy and PyTorch into
tests/golden/ops/*.npy, read by tests/test_ops.c and tests/test_rng.c.

Run with the interpreter that has numpy/scipy/torch:  /usr/bin/python3 tests/ref_ops.py
Deterministic (fixed seeds); total output about 1.5 MB.
"""
import os
import random

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "ops")
rng = np.random.default_rng(20240611)


def save(name, a):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(a))


def packed_lower(m):
    """(..., D, D) -> (..., D*(D+1)/2): lower triangle, row-major (ops.h layout)."""
    d = m.shape[-1]
    i, j = np.tril_indices(d)  # row-major order of the lower triangle
    return m[..., i, j]


# ------------------------------------------------------------------------------ rng
def gen_rng():
    # random.sample(range(n), k) after random.seed(seed): REFERENCE.md's cases (pool
    # method) and cases where CPython uses the set method (n > 21 + 4^ceil(log4(3k))).
    for seed, n, k in [(42, 448, 100), (1024, 448, 100), (42, 1792, 550), (1024, 1792, 550),
                       (42, 10000, 10), (7, 100000, 50), (0, 5000, 5), (4000000000, 300, 300),
                       (3, 1, 1)]:
        random.seed(seed)
        save(f"rng_sample_{seed}_{n}_{k}", np.array(random.sample(range(n), k), dtype=np.int32))
    # Raw 32-bit outputs (getrandbits(32)) for a few seeds, including 0 and >= 2^31.
    for seed in [42, 0, 4000000000]:
        random.seed(seed)
        save(f"rng_raw_{seed}", np.array([random.getrandbits(32) for _ in range(1500)], dtype=np.int64))
    # _randbelow(m) for awkward m (powers of two, just above them, 2^32 - 1).
    ms = [1, 2, 3, 5, 7, 100, 448, 1000, 65536, 65537, 2**31, 2**31 + 1, 2**32 - 1]
    random.seed(123)
    pairs = []
    for rep in range(20):
        for m in ms:
            pairs.append((m, random._inst._randbelow(m)))
    save("rng_randbelow_123", np.array(pairs, dtype=np.int64))


# ------------------------------------------------------------------------------ embed
def gen_embed():
    # (name, N, C1, C2, C3, H, W, H2, W2, H3, W3)
    cases = [("a", 2, 3, 5, 4, 8, 8, 4, 4, 2, 2),
             ("b", 2, 3, 5, 4, 7, 9, 4, 5, 2, 3),   # non power-of-2, non-square grid
             ("c", 1, 2, 3, 2, 16, 16, 8, 8, 4, 4)]
    for name, N, C1, C2, C3, H, W, H2, W2, H3, W3 in cases:
        l1 = rng.standard_normal((N, C1, H, W)).astype(np.float32)
        l2 = rng.standard_normal((N, C2, H2, W2)).astype(np.float32)
        l3 = rng.standard_normal((N, C3, H3, W3)).astype(np.float32)
        C = C1 + C2 + C3
        idx = rng.permutation(C)[: C - 2].astype(np.int32)  # unsorted, spans all layers
        t = [torch.from_numpy(l1),
             F.interpolate(torch.from_numpy(l2), size=(H, W), mode="nearest"),
             F.interpolate(torch.from_numpy(l3), size=(H, W), mode="nearest")]
        cat = torch.cat(t, 1)[:, torch.from_numpy(idx).long()]          # (N, D, H, W)
        out = cat.permute(0, 2, 3, 1).reshape(N, H * W, len(idx)).numpy()  # (N, P, D)
        save(f"embed_{name}_l1", l1)
        save(f"embed_{name}_l2", l2)
        save(f"embed_{name}_l3", l3)
        save(f"embed_{name}_idx", idx)
        save(f"embed_{name}_out", out)


# ------------------------------------------------------------------------------ stats
def correlated(N, P, D, scale=1.0, offset=0.0):
    """(N, P, D) float32 with per-position correlated channels and distinct means."""
    mix = rng.standard_normal((P, D, D)) / np.sqrt(D) + np.eye(D)
    z = rng.standard_normal((N, P, D))
    x = np.einsum("npd,ped->npe", z, mix) * scale
    x += offset + rng.standard_normal((1, P, D))
    return x.astype(np.float32)


def gen_stats():
    # (name, N, P, D, eps, offset, scale)
    cases = [("s1", 5, 49, 7, 0.01, 0.0, 1.0),
             ("s2", 37, 49, 33, 0.01, 0.0, 1.0),
             ("s3", 37, 1, 1, 0.01, 0.0, 1.0),
             ("s4", 5, 1, 33, 0.01, 0.0, 1.0),
             # large common offset, tiny spread, tiny eps: the covariance (~1e-4) is what
             # the factor shows; a float32 or unshifted single-pass scheme fails here.
             ("off", 37, 49, 7, 1e-6, 1000.0, 0.01),
             # rank deficient (N = 3 < D = 33): only eps makes it positive definite
             ("rank", 3, 4, 33, 0.01, 0.0, 1.0)]
    for name, N, P, D, eps, offset, scale in cases:
        x = correlated(N, P, D, scale, offset)
        xd = x.astype(np.float64)
        mean = xd.mean(axis=0)                                            # (P, D)
        cov = np.stack([np.atleast_2d(np.cov(xd[:, p, :], rowvar=False)) for p in range(P)])
        cov += eps * np.eye(D)
        chol = np.linalg.cholesky(cov)                                    # (P, D, D)
        factor = np.linalg.inv(chol)                                      # L^-1, lower
        prec = np.linalg.inv(cov)
        save(f"stats_{name}_emb", x)
        save(f"stats_{name}_eps", np.array([eps]))
        save(f"stats_{name}_mean", mean)
        save(f"stats_{name}_factor", packed_lower(factor).astype(np.float32 if D > 7 else np.float64))
        save(f"stats_{name}_prec", packed_lower(prec).astype(np.float32 if D > 7 else np.float64))
        if name == "s2":
            # Mahalanobis on new images, (x - mu)^T inv(cov) (x - mu) in float64 from the
            # float64 statistics; the C op gets mean and factor rounded to float32.
            xt = correlated(5, P, D) * 1.3
            diff = xt.astype(np.float64) - mean[None]
            q = np.einsum("npi,pij,npj->np", diff, prec, diff)
            save("mahal_s2_emb", xt)
            save("mahal_s2_dist", np.sqrt(np.maximum(q, 0.0)))


def gen_mahal_d100():
    # D = 100 (the R18 size), P = 3, N = 4: covariance given directly (SPD + eps).
    P, D, N = 3, 100, 4
    a = rng.standard_normal((P, D, 2 * D)) / np.sqrt(2 * D)
    cov = a @ a.transpose(0, 2, 1) + 0.01 * np.eye(D)
    mean = rng.standard_normal((P, D)).astype(np.float32)
    factor = np.linalg.inv(np.linalg.cholesky(cov))
    x = (mean[None] + rng.standard_normal((N, P, D))).astype(np.float32)
    diff = x.astype(np.float64) - mean[None].astype(np.float64)
    q = np.einsum("npi,pij,npj->np", diff, np.linalg.inv(cov), diff)
    save("mahal_d100_emb", x)
    save("mahal_d100_mean", mean)
    save("mahal_d100_factor", packed_lower(factor).astype(np.float32))
    save("mahal_d100_dist", np.sqrt(q))


# ------------------------------------------------------------------------------ map ops
def smooth_maps(N, H, W):
    m = rng.random((N, 1, max(2, H // 4), max(2, W // 4))).astype(np.float32) * 5
    m = F.interpolate(torch.from_numpy(m), size=(H, W), mode="bilinear", align_corners=False)
    m = m.numpy()[:, 0] + rng.random((N, H, W)).astype(np.float32)
    m[:, H // 3, W // 2] += 20.0  # a spike: the blur's reach and the max both matter
    return m.astype(np.float32)


def gen_upsample():
    for name, N, H, W, S in [("u1", 2, 7, 7, 29), ("u2", 1, 64, 64, 256), ("u3", 1, 5, 9, 13),
                             ("u4", 1, 56, 56, 224)]:
        x = rng.standard_normal((N, H, W)).astype(np.float32) * 3 + 10
        y = F.interpolate(torch.from_numpy(x)[:, None], size=(S, S), mode="bilinear",
                          align_corners=False)[:, 0].numpy()
        save(f"upsample_{name}_in", x)
        save(f"upsample_{name}_out", y)


def anomalib_blur(x, sigma):
    """anomalib's GaussianBlur2d: float32 kernel2d = outer(k1d, k1d), normalized, torch
    reflect padding, float32 conv2d."""
    r = int(4.0 * sigma + 0.5)
    ks = 2 * r + 1
    t = torch.arange(ks).float() - ks // 2
    k1 = torch.exp(-t.pow(2.0) / float(2 * sigma**2))
    k1 = k1 / k1.sum()
    k2 = torch.matmul(k1[:, None], k1[None, :])
    k2 = k2 / k2.abs().sum()
    xt = F.pad(torch.from_numpy(x)[:, None], (r, r, r, r), mode="reflect")
    return F.conv2d(xt, k2[None, None])[:, 0].numpy()


def gen_blur():
    # pad 0 (torch reflect, needs S > radius) and pad 1 (scipy reflect, any S)
    for name, N, S, sigma, pad in [("t1", 2, 40, 4.0, 0), ("t2", 1, 64, 4.0, 0),
                                   ("t3", 1, 37, 2.5, 0), ("c1", 1, 64, 4.0, 1),
                                   ("c2", 2, 5, 4.0, 1), ("c3", 1, 29, 1.3, 1)]:
        x = smooth_maps(N, S, S)
        if pad == 0:
            y = anomalib_blur(x, sigma)
        else:
            y = np.stack([scipy.ndimage.gaussian_filter(m, sigma=sigma, mode="reflect",
                                                        truncate=4.0) for m in x])
        save(f"blur_{name}_in", x)
        save(f"blur_{name}_out", y.astype(np.float32))
        save(f"blur_{name}_params", np.array([sigma, pad], dtype=np.float64))
        save(f"blur_{name}_max", y.reshape(N, -1).max(axis=1).astype(np.float64))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gen_rng()
    gen_embed()
    gen_stats()
    gen_mahal_d100()
    gen_upsample()
    gen_blur()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB to {OUT}")
