#!/usr/bin/env python3
"""Known-answer fixtures for bitload's TL1/TL2 decoders, made by microsoft/BitNet's own converter.

The TL1/TL2 byte layouts are defined only by the Python functions of microsoft/BitNet
`utils/convert-hf-to-gguf-bitnet.py` (`process_tl1`, `preprocess_weights_tl1`,
`preprocess_two_weights_tl2`, `preprocess_three_weights_tl2`, `preprocess_weights_tl2`,
`transform_to_tl1`, `transform_to_tl2`). This script does not copy them: it reads that file from a
checkout of microsoft/BitNet (or a git mirror of it), parses it with `ast`, and executes exactly
those function definitions with numpy. Those functions read their tile configuration from
`include/kernel_config.ini` relative to the working directory (ConfigParser, sections with
m/k/bm/bk/bmm), so each case writes that file into a temporary directory and runs there: the
converter's own ini reading is exercised too.

The TL functions are identical at microsoft/BitNet c82b5e6 (the commit the bitnet.cpp oracle in
../shared/oracles was built from) and at HEAD (16da220, 2026-07-21); `git diff c82b5e6 HEAD --
utils/convert-hf-to-gguf-bitnet.py` touches only quantize_to_i2_s and write_tensors. The default
source is c82b5e6.

Each case: ternary weights w[M][K] in {-1,0,+1} from a xorshift32 stream (bitload's test
regenerates the same stream), times a scale s, as f32 -- what BitnetModel.weight_quant hands the
converter. The tensor bytes are what the BitNet fork's gguf writer puts in the file: the TL bytes,
zero padding to a multiple of 32, then the f32 scale (the `<name>_scale` tensor, whose directory
entry the fork's writer drops) in a 32-byte slot -- i.e. the fork's `ggml_nbytes` for the type.

Usage:
  python3 scripts/gen_tl_fixtures.py [--bitnet PATH_OR_GIT_DIR] [--rev c82b5e6] [--out tests/fixtures/tl]
  python3 scripts/gen_tl_fixtures.py --one TL2 M K BM BK bmm SEED OUT.bin   # one tensor (tests use it)
"""

import argparse
import ast
import configparser
import json
import os
import subprocess
import sys
import tempfile
from typing import Tuple

import numpy as np

DEFAULT_MIRROR = "/work/.mirror/microsoft+BitNet/repo"
DEFAULT_REV = "c82b5e6"
CONVERTER = "utils/convert-hf-to-gguf-bitnet.py"
WANTED = [
    "process_tl1",
    "preprocess_weights_tl1",
    "preprocess_two_weights_tl2",
    "preprocess_three_weights_tl2",
    "preprocess_weights_tl2",
    "transform_to_tl1",
    "transform_to_tl2",
]

# The official presets: microsoft/BitNet preset_kernels/<model>/kernel_config_tl{1,2}.ini
# (identical at c82b5e6 and HEAD). (model, type, M, K, BM, BK, bmm).
PRESETS = [
    ("bitnet_b1_58-large", "TL1", 1536, 4096, 256, 128, 32),
    ("bitnet_b1_58-large", "TL1", 1536, 1536, 128, 64, 64),
    ("bitnet_b1_58-large", "TL1", 4096, 1536, 256, 128, 32),
    ("bitnet_b1_58-large", "TL2", 1536, 4096, 256, 96, 32),
    ("bitnet_b1_58-large", "TL2", 1536, 1536, 128, 192, 32),
    ("bitnet_b1_58-large", "TL2", 4096, 1536, 256, 96, 64),
    ("bitnet_b1_58-3B", "TL1", 3200, 8640, 160, 64, 32),
    ("bitnet_b1_58-3B", "TL1", 3200, 3200, 320, 128, 64),
    ("bitnet_b1_58-3B", "TL1", 8640, 3200, 320, 64, 32),
    ("bitnet_b1_58-3B", "TL2", 3200, 8640, 160, 96, 32),
    ("bitnet_b1_58-3B", "TL2", 3200, 3200, 320, 96, 32),
    ("bitnet_b1_58-3B", "TL2", 8640, 3200, 320, 96, 32),
    ("Llama3-8B-1.58-100B-tokens", "TL1", 14336, 4096, 256, 128, 64),
    ("Llama3-8B-1.58-100B-tokens", "TL1", 4096, 14336, 256, 128, 32),
    ("Llama3-8B-1.58-100B-tokens", "TL1", 1024, 4096, 128, 64, 64),
    ("Llama3-8B-1.58-100B-tokens", "TL1", 4096, 4096, 128, 64, 32),
    ("Llama3-8B-1.58-100B-tokens", "TL2", 14336, 4096, 256, 96, 32),
    ("Llama3-8B-1.58-100B-tokens", "TL2", 4096, 14336, 128, 96, 32),
    ("Llama3-8B-1.58-100B-tokens", "TL2", 1024, 4096, 256, 96, 32),
    ("Llama3-8B-1.58-100B-tokens", "TL2", 4096, 4096, 128, 96, 32),
]


def converter_source(where: str, rev: str) -> str:
    """The converter's text, from a git directory (at `rev`) or a plain checkout."""
    path = os.path.join(where, CONVERTER)
    if os.path.isfile(path) and not rev:
        with open(path, encoding="utf-8") as f:
            return f.read()
    return subprocess.run(
        ["git", "-C", where, "show", f"{rev or 'HEAD'}:{CONVERTER}"],
        check=True, capture_output=True, text=True,
    ).stdout


def load_functions(source: str) -> dict:
    """Executes only the TL function definitions of the converter, in a namespace with numpy."""
    tree = ast.parse(source)
    picked = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in WANTED]
    missing = set(WANTED) - {n.name for n in picked}
    if missing:
        raise SystemExit(f"converter lacks {sorted(missing)}")
    module = ast.Module(body=picked, type_ignores=[])
    namespace = {"np": np, "Tuple": Tuple}
    exec(compile(module, CONVERTER, "exec"), namespace)
    return namespace


def xorshift_ternary(seed: int, n: int) -> np.ndarray:
    """n values in {-1,0,+1}: x ^= x<<13; x ^= x>>17; x ^= x<<5 (u32), value = x % 3 - 1."""
    out = np.empty(n, dtype=np.int8)
    x = seed & 0xFFFFFFFF
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x % 3 - 1
    return out


def fork_nbytes_data(tl: str, m: int, k: int) -> int:
    """Bytes before the scale slot (the fork's ggml_nbytes minus 32)."""
    if tl == "TL1":
        return m * k // 4
    nb = (k - 256) * m // 3 * 5 // 8 + 256 * m // 2 * 4 // 8
    return (nb + 31) // 32 * 32


def encode(ns: dict, tl: str, m: int, k: int, bm_: int, bk: int, bmm: int, w: np.ndarray, scale: float):
    """Runs the converter on w*scale with the given config; returns the file's tensor bytes."""
    x = (w.reshape(m, k).astype(np.float32) * np.float32(scale)).astype(np.float32)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "include"))
        config = configparser.ConfigParser()
        config["Kernels_0"] = {"m": str(m), "k": str(k), "bm": str(bm_), "bk": str(bk), "bmm": str(bmm)}
        with open(os.path.join(tmp, "include", "kernel_config.ini"), "w") as f:
            config.write(f)
        os.chdir(tmp)
        try:
            fn = ns["transform_to_tl1"] if tl == "TL1" else ns["transform_to_tl2"]
            data, s = fn(x)
        finally:
            os.chdir(cwd)
    data = np.asarray(data, dtype=np.uint8).reshape(-1)
    size = fork_nbytes_data(tl, m, k)
    assert data.size <= size, (data.size, size)
    out = np.zeros(size + 32, dtype=np.uint8)
    out[: data.size] = data
    out[size : size + 4] = np.frombuffer(np.float32(s).tobytes(), dtype=np.uint8)
    return out, float(np.float32(s)), int(data.size)


def small_shape(tl: str, k: int, bm_: int, bk: int) -> Tuple[int, int]:
    """A small tensor with the preset's tiles: M = BM, K = whole BK tiles plus the same K % BK."""
    rem = k % bk
    n = 2
    while n * bk + rem < 256:
        n += 1
    return bm_, n * bk + rem


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bitnet", default=DEFAULT_MIRROR, help="microsoft/BitNet checkout or git dir")
    p.add_argument("--rev", default=DEFAULT_REV, help="git revision to read the converter at")
    p.add_argument("--out", default="tests/fixtures/tl")
    p.add_argument("--one", nargs=8, metavar=("TYPE", "M", "K", "BM", "BK", "bmm", "SEED", "OUT"))
    a = p.parse_args()
    ns = load_functions(converter_source(a.bitnet, a.rev))
    if a.one:
        tl, m, k, bm_, bk, bmm, seed = a.one[0], *map(int, a.one[1:7])
        w = np.frombuffer(np.random.default_rng(seed).integers(-1, 2, m * k, dtype=np.int8).tobytes(), dtype=np.int8)
        data, s, _ = encode(ns, tl, m, k, bm_, bk, bmm, w, 0.25)
        with open(a.one[7], "wb") as f:
            f.write(w.astype(np.int8).tobytes())
            f.write(data.tobytes())
        return
    os.makedirs(a.out, exist_ok=True)
    cases = []
    seed = 0x9E3779B9
    extra = [  # (type, M, K, BM, BK, bmm): shapes beyond the presets' tiles
        ("TL1", 64, 256, 64, 64, 64),
        ("TL1", 96, 384, 32, 128, 32),
        ("TL2", 64, 288, 32, 96, 32),
        ("TL2", 32, 544, 32, 192, 32),  # K % BK = 160: a long two-weight tail
    ]
    rows = [(f"{model}-{tl}-{M}x{K}", tl, M, K, BM, BK, bmm, model) for model, tl, M, K, BM, BK, bmm in PRESETS]
    rows += [(f"extra-{tl}-{M}x{K}-{BM}-{BK}-{bmm}", tl, M, K, BM, BK, bmm, None) for tl, M, K, BM, BK, bmm in extra]
    for name, tl, M, K, BM, BK, bmm, model in rows:
        m, k = (M, K) if model is None else small_shape(tl, K, BM, BK)
        seed = (seed * 1103515245 + 12345) & 0xFFFFFFFF or 1
        scale = 0.0625 * (1 + len(cases) % 7)
        w = xorshift_ternary(seed, m * k)
        case = {"name": name, "type": tl, "m": m, "k": k, "BM": BM, "BK": BK, "bmm": bmm,
                "seed": seed, "scale": scale, "presetShape": [M, K], "model": model}
        try:
            data, s, used = encode(ns, tl, m, k, BM, BK, bmm, w, scale)
        except Exception as e:  # the converter itself cannot encode this config
            case["converterError"] = f"{type(e).__name__}: {e}"
            cases.append(case)
            continue
        case["file"] = f"{name}.bin"
        case["storedScale"] = s
        case["dataBytes"] = used
        with open(os.path.join(a.out, case["file"]), "wb") as f:
            f.write(data.tobytes())
        cases.append(case)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/gen_tl_fixtures.py", "converter": f"microsoft/BitNet {a.rev} {CONVERTER}",
                   "cases": cases}, f, indent=2)
        f.write("\n")
    print(f"{len(cases)} cases → {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
