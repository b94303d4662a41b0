"""The course's three fine-tuning tasks on one synthetic world, behind one interface.

=========  =========================================================  ===========================
task       the model reads                                            and writes
=========  =========================================================  ===========================
``qa``     a passage about two or three people, and a question        the value (``Lima``)
``record`` one sentence about a person                                ``Tom, city, Lima``
``lookup`` a table of records, and a key ``Tom, city``                its row ``Tom, city, Lima``
=========  =========================================================  ===========================

Each task owns its prompt template in its own module (:mod:`~lorakit.data.qa`,
:mod:`~lorakit.data.record`, :mod:`~lorakit.data.lookup`); this module only gathers them, so a
notebook can loop over tasks::

    for task in TASKS.values():
        test = task.make_split("test", 100)
        scores = evaluate_qa(model, tokenizer, test, prompt_fn=task.format_prompt,
                             max_new_tokens=task.max_new_tokens)

All three use the QA task's SQuAD-style schema (``context``, ``question``, ``answers.text``), so
:func:`lorakit.evaluate.evaluate_qa` scores them all and :func:`lorakit.training.loop.finetune` trains on
them with ``to_pair=task.format_example``. None of the templates appears in the pretraining corpus.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lorakit.data import lookup, qa, record


@dataclass(frozen=True)
class Task:
    name: str
    template: str                                   # the prompt, with {context} (and {question})
    make_split: Callable[..., list[dict]]           # make_split(split, n=None) -> examples
    format_prompt: Callable[[dict], str]            # example -> prompt
    format_example: Callable[[dict], tuple[str, str]]  # example -> (prompt, answer), for finetune
    max_new_tokens: int                             # enough for the longest answer, plus EOS


TASKS = {
    "qa": Task("qa", qa.TEMPLATE, qa.make_split, qa.format_prompt, qa.format_example, 4),
    "record": Task("record", record.TEMPLATE, record.make_split, record.format_prompt,
                   record.format_example, 8),
    "lookup": Task("lookup", lookup.TEMPLATE, lookup.make_split, lookup.format_prompt,
                   lookup.format_example, 8),
}


def get_task(name: str) -> Task:
    """The task called ``name`` (one of ``qa``, ``record``, ``lookup``)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


__all__ = ["TASKS", "Task", "get_task"]
