import random

import pytest

from lorakit.data.corpus import (DOC_KINDS, corpus_sample, heldout_texts, iter_documents, make_document,
                                 own_format_prompt, qa_line)
from lorakit.data.qa import make_split
from lorakit.data.world import NAMES, RELATIONS, sample_facts


def test_stream_is_reproducible():
    a, b = iter_documents(3), iter_documents(3)
    assert [next(a) for _ in range(50)] == [next(b) for _ in range(50)]
    assert corpus_sample(5, seed=3) != corpus_sample(5, seed=4)


def test_template_never_appears_in_pretraining_text():
    text = "\n".join(corpus_sample(3000, seed=11))
    for heading in ("### CONTEXT", "### QUESTION", "### ANSWER"):
        assert heading not in text


def test_every_kind_appears():
    rng = random.Random(0)
    for kind in DOC_KINDS:
        doc = make_document(rng, {kind: 1.0})
        assert doc and "<|endoftext|>" not in doc


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown document kinds"):
        make_document(random.Random(0), {"poems": 1.0})


def test_heldout_differs_from_training_stream():
    train = set(corpus_sample(2000, seed=11))
    assert not train & set(heldout_texts(200))


@pytest.mark.parametrize("seed", range(20))
def test_distinct_relations(seed):
    facts = sample_facts(random.Random(seed), 3, (2, 3), distinct_relations=True)
    relations = [f.relation for f in facts]
    assert len(relations) == len(set(relations))
    assert all(sum(f.person == p for f in facts) >= 2 for p in {f.person for f in facts})


def test_sample_facts_bad_input():
    with pytest.raises(ValueError, match="n_people"):
        sample_facts(random.Random(0), len(NAMES) + 1, (1, 2))
    with pytest.raises(ValueError, match="facts_per_person"):
        sample_facts(random.Random(0), 2, (3, 1))
    with pytest.raises(ValueError, match="distinct relations"):
        sample_facts(random.Random(0), 4, (2, 3), distinct_relations=True)
    assert len(RELATIONS) == 6


def test_qa_documents_and_own_format_prompt_share_one_format():
    e = make_split("test", 1)[0]
    assert own_format_prompt(e) == f"{e['context']}\nQ: {e['question']} A:"
    assert qa_line("Where does Tom live?", "Lima") == "Q: Where does Tom live? A: Lima"
    qa_docs = [d for d in corpus_sample(400, seed=5) if "\nQ: " in d]
    assert qa_docs, "the corpus has documents in the Q: ... A: format"
    questions = [line for d in qa_docs for line in d.splitlines() if line.startswith("Q: ")]
    assert all(qa_line(*line[3:].split(" A: ", 1)) == line for line in questions)
