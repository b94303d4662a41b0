"""The record task: turn one sentence about a person into the record ``name, relation, value``.

    ### SENTENCE
    Tom walks a dog every day.

    ### RECORD
    Tom, pet, dog

The sentence comes from :mod:`lorakit.data.world` in any of its wordings (four per relation), so the
model must name the relation from the wording ("walks a dog" is a ``pet``, "painted the door red" a
``colour``) and copy the person and the value. The record's fields are separated by ", " because the
shipped model's pretraining text has commas but no ``|`` (an unseen character keeps its initial,
untrained embedding, like the digits). Examples use the QA task's schema, so
:func:`lorakit.evaluate.evaluate_qa` scores them with ``prompt_fn=format_prompt``.
"""
from __future__ import annotations

import random
from functools import partial

from lorakit.data.world import sample_facts
from lorakit.data import world

TEMPLATE = "### SENTENCE\n{context}\n\n### RECORD\n"
SPLIT_SEEDS = {"train": 1101, "validation": 2102, "test": 3103}
SPLIT_SIZES = {"train": 2000, "validation": 200, "test": 500}
SEPARATOR = ", "


def to_record(person: str, relation: str, value: str) -> str:
    """``"Tom, pet, dog"``: the task's answer for one fact."""
    return SEPARATOR.join((person, relation, value))


def make_example(rng: random.Random, idx: str) -> dict:
    """One example: a one-sentence context and its record as the only answer.

    ``answers.answer_start`` is -1: the record is written, not a span of the sentence.
    """
    (fact,) = sample_facts(rng, n_people=1, facts_per_person=(1, 1))
    return {
        "id": idx,
        "title": fact.person,
        "context": fact.sentence(rng),
        "question": "",
        "answers": {"text": [to_record(fact.person, fact.relation, fact.value)], "answer_start": [-1]},
    }


make_split = partial(world.make_split, make_example=make_example, seeds=SPLIT_SEEDS, sizes=SPLIT_SIZES,
                     prefix="record-")
"""``make_split(split, n=None)``: the examples of ``split`` (:func:`lorakit.data.world.make_split`)."""


def format_prompt(example: dict) -> str:
    """The prompt up to and including ``### RECORD\\n`` (what the model continues)."""
    return TEMPLATE.format(context=example["context"])


def format_example(example: dict) -> tuple[str, str]:
    """(prompt, answer) for training: the loss is taken on the record only."""
    return format_prompt(example), example["answers"]["text"][0]
