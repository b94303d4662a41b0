"""``lorakit-train`` / ``python -m lorakit.recipe``: the course's recipe from a YAML config.

``python -m lorakit.train`` is the same command (a documented alias, :mod:`lorakit.train`).

    python -m lorakit.recipe --config configs/lora-tiny.yaml
    python -m lorakit.recipe --config configs/lora-tiny.yaml --resume          # from the last checkpoint
    python -m lorakit.recipe --config configs/qlora-70b-fsdp.yaml --check      # validate only
    python -m lorakit.recipe --config configs/qlora-70b-fsdp.yaml --estimate --processes 8  # memory per GPU
    accelerate launch --config_file configs/accelerate/cpu-2proc.yaml -m lorakit.recipe \\
        --config configs/lora-tiny.yaml --set training.per_device_batch_size=8

``--set section.key=value`` overrides one key (the value is read as YAML), before validation.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lorakit.recipe.config import ConfigError, load_recipe, validate


def _apply_overrides(raw: dict, overrides: list[str]) -> dict:
    import yaml

    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError([f"--set {item!r}: expected section.key=value, e.g. training.max_steps=50"], "--set")
        section, name = key.split(".", 1)
        node = raw.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError([f"--set {item!r}: {section} is not a section"], "--set")
        node[name] = yaml.safe_load(value)
    return raw


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="lorakit-train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="a YAML file (see configs/)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output.dir")
    ap.add_argument("--overwrite", action="store_true", help="delete an earlier run's output.dir first")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override one key")
    ap.add_argument("--check", action="store_true", help="validate the config and exit")
    ap.add_argument("--estimate", action="store_true",
                    help="print the estimated memory per process (notebook 04's estimator) and exit")
    ap.add_argument("--processes", type=int, default=1, help="with --estimate: how many GPUs share the run")
    ap.add_argument("--dtype", default="bf16", choices=["fp32", "fp16", "bf16"],
                    help="with --estimate: the dtype model.dtype=auto stands for (T4: fp16)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_recipe(args.config)
        if args.set:
            import yaml

            raw = _apply_overrides(yaml.safe_load(Path(args.config).read_text()), args.set)
            cfg = validate(raw, base_dir=cfg.base_dir, source=args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK (method {cfg.method}, model {cfg.model.id})")
        return 0
    if args.estimate:
        from lorakit.recipe.estimate import estimate

        try:
            print(f"{args.config}: {cfg.method}, {cfg.model.id}")
            print(estimate(cfg, processes=args.processes, device_dtype=args.dtype))
        except ValueError as err:
            print(f"lorakit-train: {err}", file=sys.stderr)
            return 2
        return 0
    from lorakit.recipe.run import run

    try:
        run(cfg, resume=args.resume, overwrite=args.overwrite)
    except FileExistsError as err:
        print(f"lorakit-train: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
