import json

import pytest
from datasets import load_dataset

from lorakit.data.qa import (SPLIT_SIZES, TEMPLATE, format_example, format_prompt, make_split, read_splits,
                             write_splits)
from lorakit.course.paths import QA_DIR


def _shipped(split):
    return [json.loads(line) for line in (QA_DIR / f"{split}.jsonl").read_text().splitlines()]


def test_shipped_splits_are_regenerated_exactly(tmp_path):
    written = write_splits(tmp_path)   # how data/qa/*.jsonl was made
    assert set(written) == set(SPLIT_SIZES)
    for split, path in written.items():
        assert path.read_bytes() == (QA_DIR / f"{split}.jsonl").read_bytes(), split
        assert _shipped(split) == make_split(split)


@pytest.mark.parametrize("split", list(SPLIT_SIZES))
def test_squad_schema_and_answer_start(split):
    for e in _shipped(split):
        assert set(e) == {"id", "title", "context", "question", "answers"}
        (text,), (start,) = e["answers"]["text"], e["answers"]["answer_start"]
        assert e["context"][start:start + len(text)] == text


def test_answer_is_about_the_right_person():
    for e in make_split("validation"):
        assert e["title"] in e["question"]
        start = e["answers"]["answer_start"][0]
        sentence_start = e["context"].rfind(". ", 0, start)
        sentence = e["context"][sentence_start + 1: start]
        assert e["title"] in sentence, "the answer sits in a sentence about the asked person"


def test_splits_do_not_share_passages():
    contexts = {s: {e["context"] for e in _shipped(s)} for s in SPLIT_SIZES}
    assert not contexts["train"] & contexts["test"]
    assert not contexts["train"] & contexts["validation"]


def test_loads_with_datasets_json():
    ds = load_dataset("json", data_files={s: str(QA_DIR / f"{s}.jsonl") for s in SPLIT_SIZES})
    assert {s: len(ds[s]) for s in SPLIT_SIZES} == SPLIT_SIZES
    assert ds["test"][0]["answers"]["text"] == _shipped("test")[0]["answers"]["text"]


def test_read_splits_draws_no_progress_bar(tmp_path, capfd):
    import datasets

    write_splits(tmp_path)                         # a new folder: datasets has not cached it, so it would draw bars
    assert datasets.is_progress_bar_enabled()
    ds = read_splits(tmp_path)
    assert {s: len(ds[s]) for s in SPLIT_SIZES} == SPLIT_SIZES
    assert ds["test"][0] == _shipped("test")[0]
    out, err = capfd.readouterr()
    assert "Generating" not in out + err and err == ""
    assert datasets.is_progress_bar_enabled()       # turned back on
    with pytest.raises(FileNotFoundError, match="write_splits"):
        read_splits(tmp_path / "missing")


def test_template():
    e = make_split("test", 1)[0]
    prompt, answer = format_example(e)
    assert prompt == format_prompt(e) == TEMPLATE.format(context=e["context"], question=e["question"])
    assert prompt.startswith("### CONTEXT\n") and prompt.endswith("### ANSWER\n")
    assert answer == e["answers"]["text"][0]


def test_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        make_split("dev")
