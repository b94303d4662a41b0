"""The recipe's YAML file as dataclasses, checked before any model or data is loaded.

A config has one mapping per section; every key has a default, so a file names only what it changes::

    method: qlora                 # lora | qlora | full
    model: {id: tiny-lm}          # a hub id, a local folder, or tiny-lm (the shipped model)
    lora: {r: 16, alpha: 32, target_modules: all-linear}
    quantization: {quant_type: nf4, double_quant: true}
    training: {max_steps: 300, per_device_batch_size: 16, learning_rate: 2.0e-3}
    output: {dir: runs/qlora-tiny}

:func:`load_recipe` reads and validates a file; :func:`validate` checks a dict. Every problem is
reported at once, each naming its key (``lora.r: must be a positive int, got 0``), and an unknown key
gets a "did you mean". Note that PyYAML reads ``2e-3`` (no dot) as a *string*; float fields accept
such strings and convert them, so ``learning_rate: 2e-3`` works as a reader expects.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METHODS = ("lora", "qlora", "full")
DTYPES = ("auto", "float32", "float16", "bfloat16")
QUANT_TYPES = ("nf4", "fp4")
STRATEGIES = ("auto", "none", "ddp", "fsdp")


class ConfigError(ValueError):
    """A config that cannot run; ``errors`` lists one message per problem, each naming its key."""

    def __init__(self, errors: list[str], source: str = "config"):
        self.errors = list(errors)
        super().__init__(f"{source}: {len(errors)} problem(s)\n" + "\n".join(f"  - {e}" for e in errors))


@dataclass
class ModelSection:
    id: str = "tiny-lm"                    # a hub id, a local folder, or tiny-lm (data/tiny-lm)
    dtype: str = "auto"                    # auto = lorakit.models.device's rule (fp32 CPU, fp16 T4, bf16 >= 8.0)
    attn_implementation: str | None = None  # e.g. sdpa, flash_attention_2; None = transformers' default


@dataclass
class LoraSection:
    r: int = 16                            # the rank of every adapter
    alpha: float = 32.0                    # lora_alpha: the update is scaled by alpha / r
    dropout: float = 0.0                   # lora_dropout
    target_modules: str | list[str] = "all-linear"  # QLoRA's choice; ["q_proj", "v_proj"] is the LoRA paper's
    use_rslora: bool = False               # scale by alpha / sqrt(r)


@dataclass
class QuantizationSection:
    quant_type: str = "nf4"                # bitsandbytes' default is fp4: the QLoRA recipe asks for nf4
    double_quant: bool = True              # quantize the block scales too (QLoRA's 0.373 bits/param)
    compute_dtype: str = "auto"            # the dtype matmuls run in; auto = model.dtype's rule
    quant_storage: str | None = None       # FSDP: the float dtype 4-bit weights are stored in (= model dtype)


@dataclass
class DataSection:
    source: str = "qa"                     # qa (data/qa), a .json/.jsonl/.parquet file or folder, or a hub dataset
    prompt_column: str = "prompt"          # for files and hub datasets with prompt/completion columns
    completion_column: str = "completion"
    train_split: str = "train"
    eval_split: str = "validation"
    test_split: str = "test"
    max_train_examples: int | None = None  # None: all
    eval_examples: int = 200               # evaluation loss during training
    test_examples: int = 200               # exact match at the end (QA-style data only)
    max_length: int = 512                  # tokens per example (prompt + completion)


@dataclass
class TrainingSection:
    max_steps: int = 300                   # optimizer steps
    max_seconds: float | None = None       # stop earlier after this much wall time (None: no cap)
    per_device_batch_size: int = 16        # global batch = this x processes x gradient_accumulation_steps
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-3            # the tiny model likes it high; ~2e-4 for 1B+ models
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 20
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0             # clipping; the QLoRA recipe uses 0.3
    optim: str = "adamw_torch"             # any transformers optimizer name, e.g. paged_adamw_32bit
    gradient_checkpointing: bool = False
    eval_every: int = 100                  # steps between evaluations (0: none)
    save_every: int = 100                  # steps between checkpoints, what --resume restarts from
    logging_every: int = 20
    seed: int = 0


@dataclass
class OutputSection:
    dir: str = "runs/lora-tiny"            # checkpoints, the adapter (adapter/) and metrics.json
    save_total_limit: int = 2              # checkpoints kept


@dataclass
class DistributedSection:
    strategy: str = "auto"                 # auto: whatever `accelerate launch` set up; none | ddp | fsdp


@dataclass
class RecipeConfig:
    method: str = "lora"                   # lora | qlora | full
    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    quantization: QuantizationSection | None = None   # required for method: qlora
    data: DataSection = field(default_factory=DataSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    output: OutputSection = field(default_factory=OutputSection)
    distributed: DistributedSection = field(default_factory=DistributedSection)
    base_dir: Path = field(default=Path("."), repr=False)  # relative paths are resolved against this

    def resolve_path(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)


SECTIONS = {"model": ModelSection, "lora": LoraSection, "quantization": QuantizationSection,
            "data": DataSection, "training": TrainingSection, "output": OutputSection,
            "distributed": DistributedSection}
TOP_LEVEL = ("method", *SECTIONS)


# names readers bring from PEFT, TRL and transformers, mapped to this file's keys
ALIASES = {"rank": "r", "lora_r": "r", "lora_alpha": "alpha", "lora_dropout": "dropout", "lr": "learning_rate",
           "batch_size": "per_device_batch_size", "per_device_train_batch_size": "per_device_batch_size",
           "lr_scheduler_type": "lr_scheduler", "output_dir": "dir", "bnb_4bit_quant_type": "quant_type",
           "bnb_4bit_use_double_quant": "double_quant", "bnb_4bit_quant_storage": "quant_storage",
           "bnb_4bit_compute_dtype": "compute_dtype", "torch_dtype": "dtype", "model_name_or_path": "id",
           "max_seq_length": "max_length", "eval_steps": "eval_every", "save_steps": "save_every"}


def _unknown(key: str, where: str, known) -> str:
    close = [ALIASES[key]] if ALIASES.get(key) in known else difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {sorted(known)}"
    return f"{where}{key}: unknown key{hint}"


def _type_name(tp) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in args)
    if typing.get_origin(tp) is list:
        inner = typing.get_args(tp)[0]
        return "a non-empty list of " + {str: "strings", int: "ints"}.get(inner, _type_name(inner))
    return {int: "an int", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp) -> tuple[bool, Any]:
    """(ok, converted value) for ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in typing.get_args(tp):
            return True, None
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            ok, out = _coerce(value, arg)
            if ok:
                return True, out
        return False, value
    if origin is list:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list) or not value:
            return False, value
        items = [_coerce(v, inner) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        if isinstance(value, str):  # PyYAML reads 2e-3 (no dot) as a string
            try:
                return True, float(value)
            except ValueError:
                return False, value
        return False, value
    if tp is str:
        return isinstance(value, str) and bool(value), value
    raise TypeError(f"unsupported annotation {tp}")


def _build(cls, raw: Any, where: str, errors: list[str]):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append(f"{where.rstrip('.')}: must be a mapping of keys to values, got {type(raw).__name__}")
        return cls()
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        if key not in names:
            errors.append(_unknown(str(key), where, names))
            continue
        ok, converted = _coerce(value, hints[key])
        if not ok:
            errors.append(f"{where}{key}: must be {_type_name(hints[key])}, got {value!r}")
            continue
        values[key] = converted
    return cls(**values)


def _check_values(cfg: RecipeConfig, errors: list[str]) -> None:
    def need(cond: bool, message: str) -> None:
        if not cond:
            errors.append(message)

    need(cfg.method in METHODS, f"method: must be one of {list(METHODS)}, got {cfg.method!r}")
    need(cfg.model.dtype in DTYPES, f"model.dtype: must be one of {list(DTYPES)}, got {cfg.model.dtype!r}")
    lora = cfg.lora
    need(lora.r > 0, f"lora.r: must be a positive int (the LoRA rank), got {lora.r}")
    need(lora.alpha > 0, f"lora.alpha: must be positive, got {lora.alpha}")
    need(0 <= lora.dropout < 1, f"lora.dropout: must be in [0, 1), got {lora.dropout}")
    t = cfg.training
    for key in ("max_steps", "per_device_batch_size", "gradient_accumulation_steps"):
        need(getattr(t, key) > 0, f"training.{key}: must be a positive int, got {getattr(t, key)}")
    for key in ("warmup_steps", "eval_every", "save_every", "logging_every"):
        need(getattr(t, key) >= 0, f"training.{key}: must be >= 0, got {getattr(t, key)}")
    need(t.learning_rate > 0, f"training.learning_rate: must be positive, got {t.learning_rate}")
    need(t.max_grad_norm >= 0, f"training.max_grad_norm: must be >= 0 (0: no clipping), got {t.max_grad_norm}")
    need(t.max_seconds is None or t.max_seconds > 0, f"training.max_seconds: must be positive or null, got {t.max_seconds}")
    _check_optimizer(cfg, need)
    d = cfg.data
    need(d.max_length > 0, f"data.max_length: must be a positive int, got {d.max_length}")
    need(d.max_train_examples is None or d.max_train_examples > 0,
         f"data.max_train_examples: must be positive or null, got {d.max_train_examples}")
    need(d.test_examples >= 0 and d.eval_examples >= 0, "data.eval_examples / data.test_examples: must be >= 0")
    _check_paths(cfg, need)
    _check_quantization(cfg, need)
    need(cfg.distributed.strategy in STRATEGIES,
         f"distributed.strategy: must be one of {list(STRATEGIES)}, got {cfg.distributed.strategy!r}")
    need(cfg.output.save_total_limit > 0, f"output.save_total_limit: must be a positive int, got {cfg.output.save_total_limit}")


def _check_optimizer(cfg: RecipeConfig, need) -> None:
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    optims = [o.value for o in OptimizerNames]
    optim = cfg.training.optim
    if optim not in optims:
        close = difflib.get_close_matches(optim, optims, n=1)
        need(False, f"training.optim: unknown optimizer {optim!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    elif ("8bit" in optim or "paged" in optim) and not _has("bitsandbytes"):
        need(False, f"training.optim: {optim!r} needs bitsandbytes (pip install bitsandbytes)")
    schedulers = [s.value for s in SchedulerType]
    need(cfg.training.lr_scheduler in schedulers,
         f"training.lr_scheduler: must be one of {schedulers}, got {cfg.training.lr_scheduler!r}")


def _looks_local(name: str) -> bool:
    """A filesystem path rather than a hub id, on any OS (``./x``, ``~/x``, ``/x``, ``C:\\x``, ``a\\b``)."""
    return name.startswith((".", "/", "~")) or Path(name).is_absolute() or "\\" in name


def _check_paths(cfg: RecipeConfig, need) -> None:
    model_id = cfg.model.id
    looks_local = _looks_local(model_id) or model_id.count("/") != 1
    if model_id not in ("tiny-lm", "data/tiny-lm") and looks_local:
        need(cfg.resolve_path(model_id).is_dir(), f"model.id: no model folder at {model_id!r} (a hub id is 'owner/name')")
    source = cfg.data.source
    if source != "qa" and (_looks_local(source) or Path(source).suffix in (".json", ".jsonl", ".parquet")):
        need(cfg.resolve_path(source).exists(), f"data.source: no file or folder at {source!r}")
    need(bool(cfg.output.dir), "output.dir: must name a folder")


def _check_quantization(cfg: RecipeConfig, need) -> None:
    q = cfg.quantization
    if cfg.method != "qlora":
        need(q is None, f"quantization: applies only to method: qlora (method is {cfg.method!r}); remove the section")
        return
    if q is None:
        need(False, "quantization: method qlora needs a quantization section (e.g. {quant_type: nf4, double_quant: true})")
        return
    need(_has("bitsandbytes"), "quantization: 4-bit loading needs bitsandbytes (pip install bitsandbytes)")
    need(q.quant_type in QUANT_TYPES, f"quantization.quant_type: must be one of {list(QUANT_TYPES)}, got {q.quant_type!r}")
    need(q.compute_dtype in DTYPES, f"quantization.compute_dtype: must be one of {list(DTYPES)}, got {q.compute_dtype!r}")
    if q.quant_storage is not None:
        need(q.quant_storage in DTYPES[1:] + ("uint8",),
             f"quantization.quant_storage: must be uint8, float32, float16 or bfloat16, got {q.quant_storage!r}")
    if cfg.distributed.strategy == "fsdp":
        need(q.quant_storage not in (None, "uint8"),
             "quantization.quant_storage: FSDP shards only float tensors; set it to the model's dtype "
             "(e.g. bfloat16) so 4-bit weights can be sharded")
        need(q.quant_storage is None or q.quant_storage == cfg.model.dtype,
             f"quantization.quant_storage: must equal model.dtype ({cfg.model.dtype!r}) under FSDP, so Linear4bit "
             f"layers are wrapped like the others; got {q.quant_storage!r}")
        need(cfg.training.optim != "paged_adamw_8bit",
             "training.optim: paged_adamw_8bit fails when saving a checkpoint under FSDP + QLoRA (PEFT docs); "
             "use paged_adamw_32bit")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def validate(raw: Any, base_dir: str | Path = ".", source: str = "config") -> RecipeConfig:
    """Build a :class:`RecipeConfig` from a parsed YAML mapping; raise :class:`ConfigError` listing every problem."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError([f"the file must hold a mapping of sections, got {type(raw).__name__}"], source)
    for key in raw:
        if key not in TOP_LEVEL:
            errors.append(_unknown(str(key), "", TOP_LEVEL))
    cfg = RecipeConfig(base_dir=Path(base_dir))
    method = raw.get("method", "lora")
    if isinstance(method, str):
        cfg.method = method
    else:
        errors.append(f"method: must be a string ({' | '.join(METHODS)}), got {method!r}")
    for name, cls in SECTIONS.items():
        if name in raw:
            setattr(cfg, name, _build(cls, raw[name], f"{name}.", errors))
    _check_values(cfg, errors)  # a field of the wrong type kept its default, so this is safe
    if errors:
        raise ConfigError(errors, source)
    return cfg


def load_recipe(path: str | Path) -> RecipeConfig:
    """Read ``path`` (YAML) and validate it; relative paths inside resolve against the current folder."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"no config file at {str(path)!r}"], str(path))
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError([f"not valid YAML: {err}"], str(path)) from None
    return validate(raw, base_dir=Path.cwd(), source=str(path))


def to_dict(cfg: RecipeConfig) -> dict:
    """The config as plain data (for metrics.json and logs)."""
    out = dataclasses.asdict(cfg)
    out.pop("base_dir", None)
    return out
