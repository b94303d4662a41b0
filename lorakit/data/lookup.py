"""The look-up task: read a table of records, return the value stored under a key ``name, relation``.

    ### TABLE
    Ana, city, Oslo
    Tom, pet, dog
    Eva, city, Lima

    ### KEY
    Eva, city

    ### VALUE
    Lima

The table holds one fact for each of three to six people, one record per line (the record task's
format, :func:`lorakit.data.record.to_record`). Relations repeat across rows (two people with a
city), so the value's type does not give the answer away: only the row that starts with the key does.
This is the pretraining corpus's associative look-up ("Table of city. Tom: Lima, ...") in a new
layout and a new template. The key is the row's first two fields, so the value is the token that
follows the key in the table; a key of the name alone (the model must then skip the relation) did
not reach 10% exact match with :data:`lorakit.adapters.RECIPE`'s 200 steps. Examples use the QA
task's schema (``answer_start`` points into the table), so :func:`lorakit.evaluate.evaluate_qa`
scores them with ``prompt_fn=format_prompt``.
"""
from __future__ import annotations

import random

from .record import SEPARATOR, to_record
from .world import sample_facts

TEMPLATE = "### TABLE\n{context}\n\n### KEY\n{question}\n\n### VALUE\n"
SPLIT_SEEDS = {"train": 1202, "validation": 2203, "test": 3204}
SPLIT_SIZES = {"train": 2000, "validation": 200, "test": 500}


def make_example(rng: random.Random, idx: str) -> dict:
    """One example whose answer is the value of one row of its table."""
    facts = sample_facts(rng, n_people=rng.randint(3, 6), facts_per_person=(1, 1))
    target = rng.randrange(len(facts))
    rows = [to_record(f.person, f.relation, f.value) for f in facts]
    start = sum(len(r) + 1 for r in rows[:target]) + rows[target].rindex(facts[target].value)
    context = "\n".join(rows)
    fact = facts[target]
    assert context[start:start + len(fact.value)] == fact.value
    return {
        "id": idx,
        "title": fact.person,
        "context": context,
        "question": SEPARATOR.join((fact.person, fact.relation)),
        "answers": {"text": [fact.value], "answer_start": [start]},
    }


def make_split(split: str, n: int | None = None) -> list[dict]:
    """The examples of ``split`` (``train``, ``validation`` or ``test``), reproducibly."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {list(SPLIT_SEEDS)}, got {split!r}")
    rng = random.Random(SPLIT_SEEDS[split])
    n = SPLIT_SIZES[split] if n is None else n
    return [make_example(rng, f"lookup-{split}-{i:05d}") for i in range(n)]


def format_prompt(example: dict) -> str:
    """The prompt up to and including ``### VALUE\\n`` (what the model continues)."""
    return TEMPLATE.format(context=example["context"], question=example["question"])


def format_example(example: dict) -> tuple[str, str]:
    """(prompt, answer) for training: the loss is taken on the value only."""
    return format_prompt(example), example["answers"]["text"][0]
