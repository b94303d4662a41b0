"""The course's QA task: read a short passage about a few people, answer one question about them.

Examples use SQuAD's schema (``id, title, context, question, answers: {text, answer_start}``), so
the same prompt template and code run on real SQuAD on the Colab path. Passages mention two or three
people with two to four facts each, interleaved, in varied wording. Two people often share a relation
(both have a pet), so the reader must find the sentence that states the asked relation *of the asked
person*, whatever its wording, and copy its value: the value's type alone does not give it away.
(An easier variant, where no relation repeats in a passage, is ``make_example(..., binding=False)``.)
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from .world import sample_facts

TEMPLATE = "### CONTEXT\n{context}\n\n### QUESTION\n{question}\n\n### ANSWER\n"
SPLIT_SEEDS = {"train": 1001, "validation": 2002, "test": 3003}
SPLIT_SIZES = {"train": 2000, "validation": 200, "test": 500}


def make_example(rng: random.Random, idx: str, binding: bool = True) -> dict:
    """One SQuAD-style example whose answer is a span of its context."""
    if binding:
        facts = sample_facts(rng, n_people=rng.randint(2, 3), facts_per_person=(2, 4))
    else:
        facts = sample_facts(rng, n_people=rng.randint(2, 3), facts_per_person=(2, 3), distinct_relations=True)
    target = rng.randrange(len(facts))
    sentences, start = [], None
    offset = 0
    for i, fact in enumerate(facts):
        sentence = fact.sentence(rng)
        if i == target:
            start = offset + sentence.rindex(fact.value)
        sentences.append(sentence)
        offset += len(sentence) + 1  # the joining space
    context = " ".join(sentences)
    fact = facts[target]
    assert context[start:start + len(fact.value)] == fact.value
    return {
        "id": idx,
        "title": fact.person,
        "context": context,
        "question": fact.question(rng),
        "answers": {"text": [fact.value], "answer_start": [start]},
    }


def make_split(split: str, n: int | None = None) -> list[dict]:
    """The examples of ``split`` (``train``, ``validation`` or ``test``), reproducibly."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {list(SPLIT_SEEDS)}, got {split!r}")
    rng = random.Random(SPLIT_SEEDS[split])
    n = SPLIT_SIZES[split] if n is None else n
    return [make_example(rng, f"{split}-{i:05d}") for i in range(n)]


def write_splits(out_dir: str | Path) -> dict[str, Path]:
    """Write ``train.jsonl``, ``validation.jsonl`` and ``test.jsonl`` to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in SPLIT_SEEDS:
        path = out_dir / f"{split}.jsonl"
        with path.open("w") as f:
            for example in make_split(split):
                f.write(json.dumps(example) + "\n")
        paths[split] = path
    return paths


def format_prompt(example: dict) -> str:
    """The prompt up to and including ``### ANSWER\\n`` (what the model continues)."""
    return TEMPLATE.format(context=example["context"], question=example["question"])


def format_example(example: dict) -> tuple[str, str]:
    """(prompt, answer) for training: the loss is taken on the answer only."""
    return format_prompt(example), example["answers"]["text"][0]
