"""The record and lookup tasks, and the task registry (lorakit.data.record, .lookup, .tasks)."""
import random

import pytest

from lorakit.data import lookup, qa, record
from lorakit.data.corpus import corpus_sample
from lorakit.data.tasks import TASKS, get_task
from lorakit.data.world import RELATIONS, VALUES


def test_registry_holds_three_tasks_with_their_own_templates():
    assert list(TASKS) == ["qa", "record", "lookup"]
    assert TASKS["qa"].template == qa.TEMPLATE and TASKS["record"].template == record.TEMPLATE
    assert len({t.template for t in TASKS.values()}) == 3
    with pytest.raises(ValueError, match="unknown task 'sum'"):
        get_task("sum")


def test_templates_never_occur_in_pretraining_text():
    corpus = "\n".join(corpus_sample(2000, seed=0))
    for task in TASKS.values():
        heading = task.template.split("\n")[0]                  # e.g. "### SENTENCE"
        assert heading not in corpus, f"{task.name}: {heading!r} occurs in the pretraining corpus"


@pytest.mark.parametrize("module", [record, lookup])
def test_splits_are_reproducible_and_disjoint(module):
    assert module.make_split("test", 50) == module.make_split("test", 50)
    train = {e["context"] + e["question"] for e in module.make_split("train")}
    test = [e["context"] + e["question"] for e in module.make_split("test")]
    assert sum(t in train for t in test) / len(test) < 0.05, "few test examples also occur in training"
    with pytest.raises(ValueError, match="split must be one of"):
        module.make_split("dev")


def test_record_answer_is_name_relation_value_of_its_sentence():
    for e in record.make_split("validation"):
        name, relation, value = e["answers"]["text"][0].split(", ")
        assert relation in RELATIONS and value in VALUES[relation]
        assert e["context"].startswith(name) or f" {name}" in e["context"]
        assert value in e["context"] and e["title"] == name
        prompt, answer = record.format_example(e)
        assert prompt.endswith("### RECORD\n") and e["context"] in prompt and answer == e["answers"]["text"][0]


def test_lookup_key_finds_exactly_one_row():
    for e in lookup.make_split("validation"):
        rows = [r.split(", ") for r in e["context"].split("\n")]
        assert 3 <= len(rows) <= 6
        hits = [", ".join((n, r, v)) for n, r, v in rows if f"{n}, {r}" == e["question"]]
        assert hits == e["answers"]["text"] and e["question"].startswith(e["title"] + ", ")
        start = e["answers"]["answer_start"][0]
        assert e["context"][start:start + len(hits[0])] == hits[0]
        assert start == 0 or e["context"][start - 1] == "\n", "the answer is a whole row"
        assert lookup.format_prompt(e).endswith(f"### KEY\n{e['question']}\n\n### ROW\n")


def test_lookup_value_type_does_not_give_the_answer():
    examples = lookup.make_split("validation")
    relation = [{n: r for n, r, _ in (row.split(", ") for row in e["context"].split("\n"))} for e in examples]
    shared = sum(list(rel.values()).count(rel[e["title"]]) > 1 for rel, e in zip(relation, examples))
    assert shared > len(examples) // 4, "the asked relation often appears in another row too"


def test_to_record():
    assert record.to_record("Tom", "pet", "dog") == "Tom, pet, dog"
    assert record.make_example(random.Random(0), "x")["answers"]["answer_start"] == [-1]
