"""Independent reference for npucc's numeric formats, in numpy + ml_dtypes.

  formats_reference.py vectors OUT_DIR   writes the vectors the Swift FormatsTests compare
                                         against (raw little-endian files, see below)
  formats_reference.py bench ROWS COLS   times the same quantizers here and prints JSON

The block formats follow the rules written in schemas/formats.md, implemented plainly
with numpy arrays; ml_dtypes does every element conversion.
"""
import json
import os
import sys
import time

import ml_dtypes
import numpy as np

F32 = np.float32
FORMATS = {"e2m1": ml_dtypes.float4_e2m1fn, "e4m3": ml_dtypes.float8_e4m3fn,
           "e5m2": ml_dtypes.float8_e5m2, "e8m0": ml_dtypes.float8_e8m0fnu}


def codes_of(values, dtype):
    """ml_dtypes codes of float32 values (4-bit formats come back in the low nibble)."""
    return values.astype(dtype).view(np.uint8)


def sweep_inputs():
    """Every float32 neighbourhood that matters for the small formats, then random bits."""
    points = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 2.0 ** -149, 2.0 ** -126, 3.4e38]
    for dtype in [ml_dtypes.float4_e2m1fn, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2]:
        n = 16 if dtype == ml_dtypes.float4_e2m1fn else 256
        table = np.arange(n, dtype=np.uint8).view(dtype).astype(np.float64)
        finite = np.unique(np.abs(table[np.isfinite(table)]))
        top = finite[-1]
        step = finite[-1] - finite[-2]
        extra = np.array([top + step / 2, top + step, top * 2, top * 1e3])
        mids = (finite[1:] + finite[:-1]) / 2
        points.extend(np.concatenate([finite, mids, extra]).tolist())
    for e in range(-140, 128):
        points.extend([2.0 ** e, 1.5 * 2.0 ** e, 1.25 * 2.0 ** e, 1.75 * 2.0 ** e])
    base = np.array(points, dtype=F32)
    up = np.nextafter(base, F32(np.inf))
    down = np.nextafter(base, F32(-np.inf))
    near = np.concatenate([base, up, down])
    near = np.concatenate([near, -near])
    rng = np.random.default_rng(1234)
    bits = rng.integers(0, 2 ** 32, 1 << 20, dtype=np.uint64).astype(np.uint32).view(F32)
    scaled = (rng.standard_normal(1 << 16) * 10.0 ** rng.integers(-8, 8, 1 << 16)).astype(F32)
    return np.concatenate([near, bits, scaled]).astype(F32)


# ---------------------------------------------------------------- block formats, plainly
def e2m1(x):
    return x.astype(ml_dtypes.float4_e2m1fn)


def pack_fp4(codes):
    codes = codes.reshape(-1)
    return (codes[0::2] & 0xF) | (codes[1::2] << 4)


def pad_blocks(x, block):
    rows, cols = x.shape
    blocks = -(-cols // block)
    padded = np.zeros((rows, blocks * block), F32)
    padded[:, :cols] = x
    return padded.reshape(rows, blocks, block), blocks


def nvfp4(x):
    x = x.astype(F32)
    amax = np.abs(x).max() if x.size else F32(0)
    g = F32(amax / F32(6 * 448))
    blocks, nb = pad_blocks(x, 16)
    if g == 0:
        return np.zeros(x.shape[0] * nb * 8, np.uint8), np.zeros(x.shape[0] * nb, np.uint8), g
    bmax = np.abs(blocks).max(axis=2)
    s = (bmax / F32(6)) / g
    s = np.minimum(s, F32(448)).astype(ml_dtypes.float8_e4m3fn)  # saturating
    scale = s.astype(F32) * g
    safe = np.where(scale > 0, scale, F32(1))
    q = (blocks / safe[:, :, None]).astype(F32)
    q = np.clip(q, -6, 6)
    codes = e2m1(q).view(np.uint8) & 0xF
    codes = np.where(scale[:, :, None] > 0, codes, 0).astype(np.uint8)
    return pack_fp4(codes), s.view(np.uint8).reshape(-1), g


def mx(x, element):
    x = x.astype(F32)
    blocks, nb = pad_blocks(x, 32)
    amax = np.abs(blocks).max(axis=2)
    emax = 2 if element == "fp4" else 8
    with np.errstate(divide="ignore"):
        exp = np.floor(np.log2(amax.astype(np.float64)))
    shared = np.where(amax == 0, -127, np.clip(exp - emax, -127, 127)).astype(np.int64)
    scale = np.ldexp(F32(1), shared).astype(F32)
    q = (blocks / scale[:, :, None]).astype(F32)
    if element == "fp4":
        codes = pack_fp4(e2m1(np.clip(q, -6, 6)).view(np.uint8) & 0xF)
    else:
        codes = np.clip(q, -448, 448).astype(ml_dtypes.float8_e4m3fn).view(np.uint8).reshape(-1)
    return codes, (shared + 127).astype(np.uint8).reshape(-1)


def block_cases():
    rng = np.random.default_rng(99)
    cases = []
    for rows, cols in [(1, 16), (3, 40), (4, 64), (2, 33), (5, 100), (8, 256)]:
        x = rng.standard_normal((rows, cols)).astype(F32) * F32(rng.choice([1e-3, 1, 50]))
        if cols >= 40:
            x[0, :32] = 0                      # an all-zero block
            x[-1, 3] = F32(200)                # an outlier
        cases.append(x)
    cases.append(np.zeros((2, 48), F32))       # an all-zero tensor
    return cases


def write_vectors(out):
    os.makedirs(out, exist_ok=True)
    for name, dtype in FORMATS.items():
        n = 16 if name == "e2m1" else 256
        np.arange(n, dtype=np.uint8).view(dtype).astype(F32).tofile(os.path.join(out, f"decode_{name}.f32"))
    x = sweep_inputs()
    x.tofile(os.path.join(out, "sweep.f32"))
    with np.errstate(all="ignore"):
        for name, dtype in FORMATS.items():
            codes_of(x, dtype).tofile(os.path.join(out, f"encode_{name}.u8"))
        x.astype(ml_dtypes.bfloat16).view(np.uint16).tofile(os.path.join(out, "encode_bf16.u16"))
        x.astype(np.float16).view(np.uint16).tofile(os.path.join(out, "encode_f16.u16"))
    manifest = []
    for i, m in enumerate(block_cases()):
        m.tofile(os.path.join(out, f"block{i}.f32"))
        codes, scales, g = nvfp4(m)
        codes.tofile(os.path.join(out, f"block{i}.nvfp4.codes"))
        scales.tofile(os.path.join(out, f"block{i}.nvfp4.scales"))
        for element in ["fp4", "fp8"]:
            c, s = mx(m, element)
            c.tofile(os.path.join(out, f"block{i}.mx{element}.codes"))
            s.tofile(os.path.join(out, f"block{i}.mx{element}.scales"))
        manifest.append({"rows": m.shape[0], "columns": m.shape[1], "nvfp4_global": float(g)})
    with open(os.path.join(out, "blocks.json"), "w") as f:
        json.dump(manifest, f)


def sparse24_nvfp4(x):
    """2:4 by magnitude (two largest of each 4 along a row), then NVFP4 of the kept values."""
    groups = x.reshape(x.shape[0], -1, 4)
    order = np.argsort(-np.abs(groups), axis=2, kind="stable")[:, :, :2]
    order.sort(axis=2)
    kept = np.take_along_axis(groups, order, axis=2).reshape(x.shape[0], -1)
    meta = order[:, :, 0] | (order[:, :, 1] << 2)
    return nvfp4(kept), meta


def bench(rows, cols):
    x = np.random.default_rng(0).standard_normal((rows, cols)).astype(F32)
    results = {}
    for name, fn in [("nvfp4", nvfp4), ("mxfp4", lambda m: mx(m, "fp4")),
                     ("fp8", lambda m: (m / (np.abs(m).max() / 448)).astype(ml_dtypes.float8_e4m3fn)),
                     ("2:4+nvfp4", sparse24_nvfp4)]:
        fn(x[:8])
        start = time.perf_counter()
        fn(x)
        results[name] = time.perf_counter() - start
    print(json.dumps(results))


if __name__ == "__main__":
    if sys.argv[1] == "vectors":
        write_vectors(sys.argv[2])
    elif sys.argv[1] == "bench":
        bench(int(sys.argv[2]), int(sys.argv[3]))
