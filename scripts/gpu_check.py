#!/usr/bin/env python
"""The course's GPU check in one script (``make gpu-check``): about 8 minutes on one GPU.

    python scripts/gpu_check.py                              # needs torch with CUDA
    python scripts/gpu_check.py --wheels build/gpu-wheels    # first install the rest offline

On a machine without CUDA it prints one line saying so and exits 0 (a dry run). On a GPU:

1. ``--wheels``: installs what a "torch + transformers" image lacks from the folder that
   ``make gpu-wheels`` filled (bitsandbytes, peft, trl, datasets, nbval, ...), with no index.
2. ``pytest -m gpu``: the unit tests marked ``gpu``.
3. lorakit's NF4 and double quantization against bitsandbytes' CUDA kernels, byte for byte (packed
   codes, block scales, the 8-bit scales of double quantization) and value for value (dequantized).
4. bitsandbytes' paged optimizer through a real memory spike (:func:`lorakit.memory.paging.spike_demo`):
   plain AdamW runs out of memory, the paged one completes.
5. peak GPU memory of one QLoRA and one LoRA training step on a SmolLM2-135M-shaped model against
   :func:`lorakit.memory.estimate.estimate_footprint`.
6. every notebook on the shipped model in float16 (the T4 path) and, from compute capability 8.0,
   in bfloat16, both passes at once (``scripts/run_course.py``): every cell must run.

On a lent GPU machine that reaches no index, in one call (the working tree plus the wheel folder,
about 11 + 52 MB, travel together):

    python3 scripts/gpu_check.py --wheels build/gpu-wheels; cp build/gpu-check/report.json "$OUT"/

Each stage is timed and its outcome (or its error) goes into ``build/gpu-check/report.json``; a
failing stage does not stop the others. Exits 1 if any stage failed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# what the check needs beyond torch and transformers (make gpu-wheels collects them, with their deps)
NEEDS = ["bitsandbytes==0.50.2", "peft>=0.21,<0.22", "trl>=1.7,<2", "accelerate>=1.4", "datasets>=4.7",
         "nbval>=0.11", "nbclient>=0.10", "nbconvert>=7.0", "ipykernel>=6.0", "ipywidgets>=8.0",
         "scipy>=1.11.1", "matplotlib>=3.9", "pyyaml>=6.0", "pytest>=8.0"]
NEEDS_CUDA = "gpu-check needs a CUDA GPU (torch.cuda.is_available() is False here): nothing run"


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def install_offline(wheels: Path) -> dict:
    """pip-install every wheel in ``wheels`` with no index and no dependency resolution, then import them.

    ``--no-deps``: the folder leaves out what the image has and a few packages that are optional at
    run time (``scripts/gpu_wheels.py``'s ``OPTIONAL``), which pip's resolver would insist on.
    """
    found = sorted(str(w) for w in wheels.glob("*.whl")) if wheels.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no wheels in {wheels}: run make gpu-wheels where PyPI is reachable")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
           "--disable-pip-version-check", *found]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"offline install failed: {proc.stderr.strip()[-1500:]}")
    modules = ["bitsandbytes", "peft", "trl", "accelerate", "datasets", "nbval", "nbclient", "nbconvert",
               "ipykernel", "ipywidgets", "scipy", "matplotlib", "yaml", "pytest"]
    check = subprocess.run([sys.executable, "-c", "import importlib, sys\n"
                            "bad = []\n"
                            "for m in sys.argv[1:]:\n"
                            "    try: importlib.import_module(m)\n"
                            "    except Exception as e: bad.append(f'{m}: {type(e).__name__}: {e}')\n"
                            "print('; '.join(bad))", *modules], capture_output=True, text=True)
    if check.returncode or check.stdout.strip():
        raise RuntimeError(f"installed, but these do not import: {check.stdout.strip() or check.stderr[-1500:]}")
    pip_check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True).stdout
    return {"installed_from": str(wheels), "wheels": len(found), "imports": modules,
            "pip_check": pip_check.strip().splitlines()[:20]}


def gpu_unit_tests(env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                           "--ignore=tests/browser"], cwd=REPO, env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1:] or [""]
    if proc.returncode not in (0, 5):   # 5: none selected
        raise RuntimeError(f"pytest -m gpu: {tail[0]}\n{proc.stdout[-3000:]}")
    return {"summary": tail[0], "returncode": proc.returncode}


SHAPES = [(64, 64), (576, 1536), (3, 100), (4096,), (7, 1001), (2, 3, 256)]


def nf4_vs_bitsandbytes(device: str = "cuda", shapes=SHAPES, blocksizes=(64, 128, 256)) -> dict:
    """lorakit.quant against bitsandbytes' quantize_4bit/dequantize_4bit on ``device`` (its CUDA kernels).

    Every dtype × shape × block size × double quantization: the packed bytes, the block scales (or
    their 8-bit codes, the second-level scales and the offset) and the dequantized values must be equal.
    (On the CPU, bitsandbytes 0.50's AVX-512 dequantize is wrong for rows that are not whole blocks:
    the CPU test of this function uses other shapes.)
    """
    import bitsandbytes.functional as F
    import torch

    from lorakit.quant import dequantize_4bit, quantize_4bit

    cases, failures = 0, []
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for shape in shapes:
            for blocksize in blocksizes:
                for double_quant in (False, True):
                    cases += 1
                    gen = torch.Generator().manual_seed(cases)
                    w = (torch.randn(shape, generator=gen) * 0.02)
                    w.view(-1)[::97] *= 8
                    w = w.to(dtype)
                    ref_packed, ref = F.quantize_4bit(w.to(device), blocksize=blocksize, quant_type="nf4",
                                                      compress_statistics=double_quant)
                    packed, state = quantize_4bit(w, "nf4", blocksize, double_quant=double_quant)
                    tag = f"{dtype} {shape} blocksize {blocksize} double_quant {double_quant}"
                    if not torch.equal(packed, ref_packed.cpu().reshape(-1)):
                        failures.append(f"{tag}: {int((packed != ref_packed.cpu().reshape(-1)).sum())} bytes differ")
                        continue
                    if double_quant:
                        same = (torch.equal(state.absmax.codes, ref.absmax.cpu())
                                and torch.equal(state.absmax.absmax, ref.state2.absmax.cpu())
                                and torch.equal(state.absmax.offset, ref.offset.cpu()))
                    else:
                        same = torch.equal(state.absmax, ref.absmax.cpu())
                    if not same:
                        failures.append(f"{tag}: block scales differ")
                        continue
                    theirs = F.dequantize_4bit(ref_packed, ref).cpu().reshape(shape)
                    ours = dequantize_4bit(packed, state).reshape(shape)
                    if not torch.equal(theirs, ours):
                        failures.append(f"{tag}: dequantized values differ by up to "
                                        f"{(theirs.float() - ours.float()).abs().max().item():.3g}")
    if failures:
        raise AssertionError(f"{len(failures)} of {cases} cases differ: " + "; ".join(failures[:8]))
    return {"cases": cases, "identical": cases}


def paged_spike() -> dict:
    from lorakit.memory.paging import spike_demo

    plain = spike_demo("adamw_32bit")
    paged = spike_demo("paged_adamw_32bit")
    keep = ("completed", "error", "steps_done", "capacity_gb", "layers", "spike_gb")
    out = {"adamw_32bit": {k: plain[k] for k in keep}, "paged_adamw_32bit": {k: paged[k] for k in keep},
           "paged_peak_in_use_gb": max(t[2] for t in paged["timeline"])}
    if plain["completed"] or not paged["completed"]:
        raise AssertionError(f"expected plain AdamW to run out of memory and the paged one to complete: {out}")
    return out


def peak_vs_estimate(dtype_name: str, batch_size: int = 4, seq_len: int = 512) -> dict:
    """Peak GPU memory of one QLoRA and one LoRA step (r=16, all-linear) against the estimator."""
    import importlib.util

    import torch

    from transformers import AutoConfig

    from lorakit.memory.estimate import TrainingSetup, estimate_footprint
    from lorakit.memory.probe import cuda_peak_bytes
    from lorakit.studies.qlora_vs_lora import lora_model

    spec = importlib.util.spec_from_file_location("build_proxy_model", REPO / "scripts" / "build_proxy_model.py")
    proxy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proxy)
    folder = REPO / "build" / "gpu-check" / "smollm2-135m-shape"
    if not (folder / "config.json").exists():
        proxy.build(folder, "HuggingFaceTB/SmolLM2-135M", layers=30)
    dtype = getattr(torch, dtype_name)
    short = {"float16": "fp16", "bfloat16": "bf16"}[dtype_name]
    out = {}
    for method in ("qlora", "lora"):
        import bitsandbytes as bnb

        torch.cuda.empty_cache()
        model = lora_model(str(folder), method, r=16, dtype=dtype, checkpointing=True)
        model.train()
        opt = bnb.optim.PagedAdamW32bit([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        ids = torch.randint(0, model.config.vocab_size, (batch_size, seq_len), device="cuda")

        def step():
            with torch.autocast("cuda", dtype=dtype):
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=False)

        step()   # the first step allocates the optimizer states
        peak = cuda_peak_bytes(step)
        setup = TrainingSetup(method=method, r=16, batch_size=batch_size, seq_len=seq_len,
                              optimizer="paged_adamw_32bit", gradient_checkpointing=True, dtype=short,
                              padded=False)   # random ids, no attention mask
        est = estimate_footprint(AutoConfig.from_pretrained(folder), setup)   # the config as saved: no quantization
        out[method] = {"peak_gb": peak / 1e9, "estimate_gb": est.total / 1e9, "estimate_parts_gb":
                       {k: v / 1e9 for k, v in est.as_dict().items()}, "peak_over_estimate": peak / est.total}
        del model, opt
        torch.cuda.empty_cache()
    out["setup"] = {"batch_size": batch_size, "seq_len": seq_len, "r": 16, "target_modules": "all-linear",
                    "optimizer": "paged_adamw_32bit", "gradient_checkpointing": True, "dtype": dtype_name}
    return out


def notebooks(dtypes: list[str], out_dir: Path, env: dict, timeout: int) -> dict:
    """Every notebook on the shipped model, one ``run_course.py`` per dtype, all at once."""
    procs = {}
    for dtype in dtypes:
        sub = out_dir / f"notebooks-{dtype}"
        sub.mkdir(parents=True, exist_ok=True)
        e = dict(env, LORAKIT_DTYPE=dtype, LORAKIT_RESULTS_DIR=str(sub / "results"))
        e.pop("LORAKIT_MODEL_ID", None)
        log = open(sub / "run.log", "w")
        procs[dtype] = (subprocess.Popen([sys.executable, str(REPO / "scripts" / "run_course.py"), "--out", str(sub),
                                          "--timeout", str(timeout)], cwd=REPO, env=e, stdout=log,
                                         stderr=subprocess.STDOUT), sub)
    result, failed = {}, []
    for dtype, (proc, sub) in procs.items():
        proc.wait()
        summary = json.loads((sub / "summary.json").read_text()) if (sub / "summary.json").exists() else {}
        result[dtype] = {stem: {k: row[k] for k in ("status", "seconds", "error", "results")}
                         for stem, row in summary.items()}
        failed += [f"{dtype} {stem}: {row['error']}" for stem, row in summary.items() if row["status"] != "ok"]
        if not summary:
            failed.append(f"{dtype}: no summary (see {sub / 'run.log'})")
    if failed:
        raise AssertionError("; ".join(failed)) from None
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheels", type=Path, help="install what is missing from this folder first (make gpu-wheels)")
    ap.add_argument("--out", type=Path, default=REPO / "build" / "gpu-check")
    ap.add_argument("--skip", nargs="*", default=[], help="stage names to skip")
    ap.add_argument("--cell-timeout", type=int, default=300, help="seconds per notebook cell")
    args = ap.parse_args(argv)
    if not cuda_available():
        print(NEEDS_CUDA)
        return 0

    import torch

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    sys.path.insert(0, str(REPO))
    capability = torch.cuda.get_device_capability()
    dtypes = ["float16"] + (["bfloat16"] if capability >= (8, 0) else [])
    report = {"device": torch.cuda.get_device_name(), "compute_capability": list(capability),
              "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
              "stages": {}}
    stages = [("install", lambda: install_offline(args.wheels) if args.wheels else {"skipped": "no --wheels"}),
              ("gpu_unit_tests", lambda: gpu_unit_tests(env)),
              ("nf4_vs_bitsandbytes_cuda", nf4_vs_bitsandbytes),
              ("paged_optimizer_spike", paged_spike),
              *[(f"peak_memory_{d}", (lambda d=d: peak_vs_estimate(d))) for d in dtypes],
              ("notebooks", lambda: notebooks(dtypes, out, env, args.cell_timeout))]
    start = time.perf_counter()
    for name, fn in stages:
        if name in args.skip:
            report["stages"][name] = {"status": "skipped"}
            continue
        t0 = time.perf_counter()
        print(f"[{time.perf_counter() - start:6.1f} s] {name} ...", flush=True)
        try:
            row = {"status": "ok", "result": fn()}
        except Exception as err:  # record and go on: one stage's failure says nothing about the others
            row = {"status": "FAILED", "error": f"{type(err).__name__}: {err}"[:4000],
                   "traceback": traceback.format_exc()[-3000:]}
        row["seconds"] = round(time.perf_counter() - t0, 1)
        report["stages"][name] = row
        print(f"[{time.perf_counter() - start:6.1f} s] {name}: {row['status']}"
              + (f" ({row['error'][:300]})" if row["status"] != "ok" else ""), flush=True)
        if name == "install" and row["status"] != "ok":
            break
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    report["seconds"] = round(time.perf_counter() - start, 1)
    try:
        import bitsandbytes, peft, transformers, trl  # noqa: E401
        report["versions"] = {m.__name__: m.__version__ for m in (transformers, peft, trl, bitsandbytes)}
    except ImportError as err:
        report["versions"] = {"error": str(err)}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    failed = [k for k, v in report["stages"].items() if v["status"] == "FAILED"]
    print(f"gpu-check: {len(report['stages']) - len(failed)} stage(s) ok, failed: {failed or 'none'}; "
          f"{report['seconds']:.0f} s; report in {out / 'report.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
