"""The look-up task: read a table of records, return the row stored under a key ``name, relation``.

    ### TABLE
    Ana, city, Oslo
    Tom, pet, dog
    Eva, city, Lima

    ### KEY
    Eva, city

    ### ROW
    Eva, city, Lima

The table holds one fact for each of three to six people, one record per line (the record task's
format, :func:`lorakit.data.record.to_record`). Relations repeat across rows (two people with a
city), so the value's type does not give the answer away: only the row that starts with the key does.
The answer is that whole row, as a database returns the matching record (``SELECT *``): the model
writes the key, then reads on in the table where the key stands. Asked for the bare value instead,
the shipped model stayed below the 80% bar with :data:`lorakit.studies.adapters.RECIPE`'s 200 steps: 75.5%
[69.5, 81.5] exact match on 200 test examples with this key (one seed), 8.2% with a key of the name
alone (the row answer: 95.6% [93.8, 97.4] on 500). From the prompt's last line it then has to find the row and
jump to its last field; writing the key first turns the look-up into the continuation of a span seen
earlier in the context, which pretraining's repeated lists taught (:mod:`lorakit.data.corpus`).
Examples use the QA task's schema, the answer a span of the table (``answer_start`` is the row's
start), so :func:`lorakit.evaluate.evaluate_qa` scores them with ``prompt_fn=format_prompt``.
"""
from __future__ import annotations

import random
from functools import partial

from lorakit.data.record import SEPARATOR, to_record
from lorakit.data.world import sample_facts
from lorakit.data import world

TEMPLATE = "### TABLE\n{context}\n\n### KEY\n{question}\n\n### ROW\n"
SPLIT_SEEDS = {"train": 1202, "validation": 2203, "test": 3204}
SPLIT_SIZES = {"train": 2000, "validation": 200, "test": 500}


def make_example(rng: random.Random, idx: str) -> dict:
    """One example whose answer is one row of its table, the one that starts with its key."""
    facts = sample_facts(rng, n_people=rng.randint(3, 6), facts_per_person=(1, 1))
    target = rng.randrange(len(facts))
    rows = [to_record(f.person, f.relation, f.value) for f in facts]
    start = sum(len(r) + 1 for r in rows[:target])            # the row's first character
    context = "\n".join(rows)
    fact = facts[target]
    assert context[start:start + len(rows[target])] == rows[target]
    return {
        "id": idx,
        "title": fact.person,
        "context": context,
        "question": SEPARATOR.join((fact.person, fact.relation)),
        "answers": {"text": [rows[target]], "answer_start": [start]},
    }


make_split = partial(world.make_split, make_example=make_example, seeds=SPLIT_SEEDS, sizes=SPLIT_SIZES,
                     prefix="lookup-")
"""``make_split(split, n=None)``: the examples of ``split`` (:func:`lorakit.data.world.make_split`)."""


def format_prompt(example: dict) -> str:
    """The prompt up to and including ``### ROW\\n`` (what the model continues)."""
    return TEMPLATE.format(context=example["context"], question=example["question"])


def format_example(example: dict) -> tuple[str, str]:
    """(prompt, answer) for training: the loss is taken on the row only."""
    return format_prompt(example), example["answers"]["text"][0]
