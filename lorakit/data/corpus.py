"""The pretraining corpus of the course's tiny model, generated from :mod:`lorakit.data.world`.

A model with a million parameters learns to *read its context* only if many of the tokens it
predicts can be found by looking back. Plain fact passages give that gradient to almost no token
(the course's first pretraining attempts, summarised in ``data/tiny-lm/README.md``, stalled there),
so the corpus mixes five document kinds:

* ``passage``: facts about two to four people, then a recap that restates some of them in other words;
* ``qa``: facts, then prose questions answered by the bare value or by a whole sentence
  ("Q: Where does Tom live? A: Tom lives in Lima."); in half of them no relation repeats, so the
  relation alone finds the fact, in the other half two people can share one (binding);
* ``repeat``: a random list of world words, then the same list again (the classic condition for
  induction heads);
* ``lookup``: key-value pairs, then look-ups of some keys (associative recall);
* ``notes``: markdown-style headed sections (``### PEOPLE`` ...), so that ``#`` and upper-case
  headings are known tokens.

The course's QA template (``### CONTEXT`` / ``### QUESTION`` / ``### ANSWER``) never appears, so the
base model does not know the task's format: that is what fine-tuning teaches. The format it *does*
know, ``Q: <question> A: <answer>``, is owned here (:func:`qa_line`, :func:`own_format_prompt`).
"""
from __future__ import annotations

import random
from collections.abc import Iterator

from lorakit.data.world import NAMES, RELATIONS, VALUES, sample_facts, vocabulary

DOC_KINDS = ("passage", "qa", "repeat", "lookup", "notes")
DEFAULT_MIX = {"passage": 0.10, "qa": 0.50, "repeat": 0.20, "lookup": 0.15, "notes": 0.05}
EOS = "<|endoftext|>"


def _facts(rng: random.Random, distinct_relations: bool = False):
    if distinct_relations:
        return sample_facts(rng, n_people=rng.randint(2, 3), facts_per_person=(1, 3), distinct_relations=True)
    return sample_facts(rng, n_people=rng.randint(2, 4), facts_per_person=(1, 4))


def passage_doc(rng: random.Random) -> str:
    facts = _facts(rng)
    text = " ".join(f.sentence(rng) for f in facts)
    recap = rng.sample(facts, max(1, (2 * len(facts)) // 3))
    opener = rng.choice(["In short:", "To sum up:", "Again:", "That is,"])
    return text + "\n" + opener + " " + " ".join(f.sentence(rng) for f in recap)


def qa_line(question: str, answer: str | None = None) -> str:
    """The pretraining corpus's question format: ``"Q: <question> A: <answer>"``.

    Without ``answer`` it ends at ``"A:"``, where a model continues with its answer.
    """
    return f"Q: {question} A:" if answer is None else f"Q: {question} A: {answer}"


def own_format_prompt(example: dict) -> str:
    """A QA example asked the way the pretraining text asks: ``<context>\nQ: <question> A:``.

    The shipped model was pretrained on this format (the ``qa`` documents), never on the course's
    ``### ANSWER`` template, so notebook 00 uses it to show the model can read before fine-tuning.
    """
    return f"{example['context']}\n{qa_line(example['question'])}"


def qa_doc(rng: random.Random, p_short: float = 0.5) -> str:
    facts = _facts(rng, distinct_relations=rng.random() < 0.5)
    lines = [" ".join(f.sentence(rng) for f in facts)]
    for fact in rng.sample(facts, min(len(facts), rng.randint(2, 6))):
        answer = fact.value if rng.random() < p_short else fact.sentence(rng)
        style = rng.random()
        if style < 0.5:
            lines.append(qa_line(fact.question(rng), answer))
        else:
            lines.append(f"{fact.question(rng)} {answer}")
    return "\n".join(lines)


def repeat_doc(rng: random.Random) -> str:
    words = rng.choices(vocabulary(), k=rng.randint(6, 20))
    head = rng.choice(["List:", "Words:", "Names:", "Items:"])
    again = rng.choice(["Again:", "Once more:", "Repeat:"])
    return f"{head} {' '.join(words)}.\n{again} {' '.join(words)}."


def lookup_doc(rng: random.Random) -> str:
    relation = rng.choice(RELATIONS)
    people = rng.sample(NAMES, rng.randint(3, 8))
    table = {p: rng.choice(VALUES[relation]) for p in people}
    pairs = ", ".join(f"{p}: {v}" for p, v in table.items())
    queries = rng.choices(people, k=rng.randint(2, 6))
    looked = ", ".join(f"{p}: {table[p]}" for p in queries)
    return f"Table of {relation}. {pairs}.\nLook up: {looked}."


def notes_doc(rng: random.Random) -> str:
    facts = _facts(rng)
    heading = rng.choice(["PEOPLE", "NOTES", "FACTS", "RECORDS", "DIARY"])
    body = " ".join(f.sentence(rng) for f in facts)
    tail = rng.choice(["SUMMARY", "RECAP", "REVIEW"])
    recap = " ".join(f.sentence(rng) for f in rng.sample(facts, max(1, len(facts) // 2)))
    return f"### {heading}\n{body}\n\n### {tail}\n{recap}"


_MAKERS = {"passage": passage_doc, "qa": qa_doc, "repeat": repeat_doc, "lookup": lookup_doc,
           "notes": notes_doc}


def make_document(rng: random.Random, mix: dict[str, float] | None = None) -> str:
    """One document, its kind drawn from ``mix`` (default :data:`DEFAULT_MIX`)."""
    mix = mix or DEFAULT_MIX
    unknown = set(mix) - set(DOC_KINDS)
    if unknown:
        raise ValueError(f"unknown document kinds {sorted(unknown)}; expected some of {DOC_KINDS}")
    kind = rng.choices(list(mix), weights=list(mix.values()))[0]
    return _MAKERS[kind](rng)


def iter_documents(seed: int, mix: dict[str, float] | None = None) -> Iterator[str]:
    """An endless, reproducible stream of documents."""
    rng = random.Random(seed)
    while True:
        yield make_document(rng, mix)


def corpus_sample(n_docs: int, seed: int, mix: dict[str, float] | None = None) -> list[str]:
    """The first ``n_docs`` documents of :func:`iter_documents` (for tokenizers and held-out sets)."""
    stream = iter_documents(seed, mix)
    return [next(stream) for _ in range(n_docs)]


HELDOUT_SEED = 13


def heldout_texts(n_docs: int = 200) -> list[str]:
    """Held-out documents (a seed the pretraining stream never uses), for perplexity."""
    return corpus_sample(n_docs, seed=HELDOUT_SEED)
