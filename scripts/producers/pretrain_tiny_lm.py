#!/usr/bin/env python
"""Pretrain the course's tiny Llama on the synthetic world corpus and save it to ``data/tiny-lm``.

    python scripts/producers/pretrain_tiny_lm.py                   # the shipped model (seeded, ~40 min on 2 cores)
    python scripts/producers/pretrain_tiny_lm.py --steps 300 --out /tmp/tiny   # a quick smoke run

Everything is seeded: the tokenizer's training text, the document stream, the initialisation and the
batch order. Every ``--eval-every`` steps it prints held-out loss and a *retrieval probe*: on held-out
passages, asked "Q: <question> A:" in the corpus's own format, how often the continuation contains
the right value. That probe moves long before the QA task's exact match does.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch

from lorakit.data.corpus import HELDOUT_SEED, corpus_sample, iter_documents
from lorakit.data.qa import make_split
from lorakit.data.world import vocabulary
from lorakit.data.tokenizer import train_tokenizer
from lorakit.evaluate import answer_in_reply_rate, evaluate_qa, generate
from lorakit.models.tiny_lm import TinyLMConfig, build_model, packed_batches

TOKENIZER_SEED, TRAIN_SEED = 7, 11


def heldout_loss(model, batches: list[torch.Tensor]) -> float:
    model.eval()
    with torch.no_grad():
        losses = [_loss(model, b) for b in batches]
    model.train()
    return sum(losses) / len(losses)


def _loss(model, batch: torch.Tensor) -> float:
    logits = model(input_ids=batch[:, :-1]).logits
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten()).item()


def copy_probe(model, tokenizer, n: int = 50) -> float:
    """Induction check: after ``List: w1 .. wk.\nAgain: w1 w2``, does the model continue with w3 w4 ...?"""
    rng = random.Random(5)
    words = vocabulary()
    prompts, targets = [], []
    for _ in range(n):
        seq = rng.sample(words, 10)
        prompts.append(f"List: {' '.join(seq)}.\nAgain: {' '.join(seq[:2])}")
        targets.append(" ".join(seq[2:6]))
    outs = generate(model, tokenizer, prompts, max_new_tokens=6)
    model.train()
    return sum(o.strip().startswith(t) for o, t in zip(outs, targets)) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/tiny-lm")
    ap.add_argument("--steps", type=int, default=6500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=TinyLMConfig.hidden_size)
    ap.add_argument("--intermediate", type=int, default=TinyLMConfig.intermediate_size)
    ap.add_argument("--layers", type=int, default=TinyLMConfig.num_hidden_layers)
    ap.add_argument("--heads", type=int, default=TinyLMConfig.num_attention_heads)
    ap.add_argument("--vocab", type=int, default=TinyLMConfig.vocab_size)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    tokenizer = train_tokenizer(corpus_sample(20000, seed=TOKENIZER_SEED), vocab_size=args.vocab)
    tokenizer.save_pretrained(out)
    config = TinyLMConfig(vocab_size=len(tokenizer), hidden_size=args.hidden,
                          intermediate_size=args.intermediate, num_hidden_layers=args.layers,
                          num_attention_heads=args.heads)
    model = build_model(config, tokenizer, seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"tokenizer {len(tokenizer)} tokens in {time.time() - t0:.1f}s; model {n_params:,} parameters", flush=True)

    held_iter = packed_batches(iter_documents(HELDOUT_SEED), tokenizer, 16, args.seq_len)
    heldout = [next(held_iter) for _ in range(4)]
    probe = make_split("validation", 100)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    batches = packed_batches(iter_documents(TRAIN_SEED + args.seed), tokenizer, args.batch_size, args.seq_len)
    model.train()
    log = []
    t_start = time.time()
    for step in range(args.steps):
        batch = next(batches)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        logits = model(input_ids=batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            elapsed = time.time() - t_start
            hl = heldout_loss(model, heldout)
            rp = answer_in_reply_rate(model, tokenizer, probe)["rate"]
            cp = copy_probe(model, tokenizer)
            tmpl = evaluate_qa(model, tokenizer, probe[:50])["exact_match"]
            model.train()
            tok_s = (step + 1) * args.batch_size * args.seq_len / elapsed
            row = {"step": step + 1, "train_loss": round(loss.item(), 4), "heldout_loss": round(hl, 4),
                   "heldout_ppl": round(math.exp(hl), 3), "copy_probe": cp, "retrieval_probe": rp, "template_em": tmpl,
                   "minutes": round(elapsed / 60, 2), "tokens_per_s": round(tok_s)}
            log.append(row)
            print(json.dumps(row), flush=True)
            model.save_pretrained(out, safe_serialization=True)

    model.save_pretrained(out, safe_serialization=True)
    (out / "training_log.json").write_text(json.dumps({"args": vars(args), "parameters": n_params,
                                                      "log": log}, indent=2) + "\n")
    print(f"saved to {out} after {(time.time() - t_start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
