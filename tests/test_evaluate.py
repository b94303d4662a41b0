import math

import pytest

from lorakit.data.corpus import heldout_texts
from lorakit.data.qa import make_split
import torch

from lorakit.data.corpus import own_format_prompt
from lorakit.evaluate import (answer_in_reply, answer_in_reply_rate, document_nll, evaluate_qa, exact_match,
                              generate, generation_seconds, left_padded, normalize_answer, perplexity, perplexity_ci,
                              perplexity_ratio_ci)
from lorakit.models.loading import load_model, load_tokenizer


@pytest.mark.parametrize("text, expected", [
    ("Lima", "lima"), (" Lima. ", "lima"), ("a baker", "baker"), ("The  Red", "red"), ("rock-n-roll", "rocknroll"),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match():
    assert exact_match("lima.", ["Lima"]) and exact_match("Oslo", ["Lima", "Oslo"])
    assert not exact_match("Lima Oslo", ["Lima"])


@pytest.mark.parametrize("reply, golds, expected", [
    ("Tom lives in Lima.", ["Lima"], True), ("lima", ["Lima"], True), ("He moved to Limassol", ["Lima"], False),
    ("the New York one", ["New York"], True), ("", ["Lima"], False), ("Oslo", ["Lima", "Oslo"], True),
])
def test_answer_in_reply(reply, golds, expected):
    assert answer_in_reply(reply, golds) is expected


@pytest.mark.parametrize("reply, gold, expected", [
    ("Dancer.", "dancer", True), ("the  dancer!", "dancer", True), (" a\tdancer \n", "dancer", True),
    ("dancers", "dancer", False), ("dancer and banker", "dancer", False), ("", "dancer", False),
    ("theatre", "theatre", True),          # "the" is dropped only as a whole word
    ("an apple", "apple", True), ("ice-cream", "ice cream", False),
])
def test_exact_match_normalisation(reply, gold, expected):
    assert exact_match(reply, [gold]) is expected


@pytest.fixture(scope="module")
def tiny():
    return load_model(), load_tokenizer()


def test_generate_is_greedy_and_batch_independent(tiny):
    model, tok = tiny
    prompts = ["Mia lives in", "Q: Where does Tom live? A: Tom lives in Lima.\nQ: What pet does Tom have? A:"]
    batched = generate(model, tok, prompts, max_new_tokens=6)
    single = [generate(model, tok, [p], max_new_tokens=6)[0] for p in prompts]
    assert batched == single and all("\n" not in b for b in batched)


def test_evaluate_qa_fields(tiny):
    model, tok = tiny
    out = evaluate_qa(model, tok, make_split("test", 8), batch_size=3)
    assert set(out) == {"exact_match", "correct", "answer_in_reply", "in_reply", "in_context", "predictions"}
    assert len(out["predictions"]) == 8
    assert sum(out["correct"]) / 8 == out["exact_match"] and sum(out["in_reply"]) / 8 == out["answer_in_reply"]
    assert all(r or not c for c, r in zip(out["correct"], out["in_reply"])), "an exact match is also in the reply"


def test_perplexity_is_finite_and_above_one(tiny):
    model, tok = tiny
    ppl = perplexity(model, tok, heldout_texts(16))
    assert math.isfinite(ppl) and ppl > 1.0


def test_document_nll_adds_up_to_perplexity_and_ignores_batching(tiny):
    model, tok = tiny
    texts = heldout_texts(6)
    nll, n_tokens = document_nll(model, tok, texts, batch_size=4)
    assert nll.shape == n_tokens.shape == (6,) and nll.dtype == torch.float64
    # one prediction per token after the first, EOS included
    assert n_tokens.tolist() == [len(tok(t + tok.eos_token)["input_ids"]) - 1 for t in texts]
    one_by_one = torch.cat([document_nll(model, tok, [t], batch_size=1)[0] for t in texts])
    torch.testing.assert_close(nll, one_by_one, rtol=1e-5, atol=1e-4)   # padding is masked out
    assert perplexity(model, tok, texts, batch_size=4) == pytest.approx(math.exp(nll.sum() / n_tokens.sum()))
    with pytest.raises(ValueError, match="batch_size"):
        document_nll(model, tok, texts, batch_size=0)


def test_perplexity_ci_resamples_documents():
    n_tokens = torch.tensor([10, 20, 30, 40])
    same_rate = perplexity_ci(n_tokens * 1.5, n_tokens)       # every document at 1.5 nats per token
    assert same_rate.low == pytest.approx(math.exp(1.5)) and same_rate.high == pytest.approx(math.exp(1.5))
    nll = torch.tensor([10.0, 40.0, 30.0, 100.0])
    ci = perplexity_ci(nll, n_tokens)
    assert ci.mean == pytest.approx(math.exp(180 / 100))
    assert ci.low < ci.mean < ci.high
    assert math.exp(1.0) <= ci.low and ci.high <= math.exp(2.5)  # within the per-document extremes
    with pytest.raises(ValueError, match="one shape"):
        perplexity_ci(nll, n_tokens[:3])


def test_perplexity_ratio_ci_is_paired():
    n_tokens = torch.tensor([10, 20, 30, 40, 50])
    nll_b = torch.tensor([12.0, 50.0, 31.0, 90.0, 60.0])
    shifted = perplexity_ratio_ci(nll_b + 0.01 * n_tokens, nll_b, n_tokens)   # +0.01 nats on every token
    for value in shifted[:3]:
        assert value == pytest.approx(math.exp(0.01) - 1, rel=1e-5)          # no noise once paired
    tie = perplexity_ratio_ci(nll_b, nll_b, n_tokens)
    assert tie[:3] == (0.0, 0.0, 0.0)
    noisy = perplexity_ratio_ci(nll_b + torch.tensor([1.0, -1.0, 1.0, -1.0, 0.5]), nll_b, n_tokens)
    assert noisy.low < 0 < noisy.high
    with pytest.raises(ValueError, match="same n documents"):
        perplexity_ratio_ci(nll_b, nll_b[:4], n_tokens)


def test_perplexity_needs_texts(tiny):
    with pytest.raises(ValueError, match="at least one text"):
        perplexity(*tiny, [])


def test_answer_in_reply_rate_needs_the_passage(tiny):
    model, tok = tiny
    examples = make_split("validation", 40)
    read = answer_in_reply_rate(model, tok, examples)
    assert len(read["replies"]) == 40 and read["rate"] >= 0.8, "the shipped model reads its own format"
    blind = answer_in_reply_rate(model, tok, examples, prompt_fn=lambda e: f"Q: {e['question']} A:")
    assert blind["rate"] <= 0.4, "without the passage the answer can only be guessed"


def test_reading_probe_equals_evaluate_qa_in_own_format(tiny):
    model, tok = tiny
    examples = make_split("validation", 8)
    probe = answer_in_reply_rate(model, tok, examples, batch_size=4)
    scored = evaluate_qa(model, tok, examples, max_new_tokens=24, prompt_fn=own_format_prompt)
    assert probe == {"rate": scored["answer_in_reply"], "replies": scored["predictions"]}


def test_own_format_prompt():
    e = make_split("test", 1)[0]
    assert own_format_prompt(e) == f"{e['context']}\nQ: {e['question']} A:"


def test_document_nll_agrees_with_perplexity(tiny):
    from lorakit.evaluate import document_nll

    model, tok = tiny
    texts = heldout_texts(8)
    nll, n_tokens = document_nll(model, tok, texts, batch_size=3, max_length=256)
    assert nll.shape == n_tokens.shape == (8,) and bool((nll > 0).all())
    counts = [len(tok(t + tok.eos_token)["input_ids"]) - 1 for t in texts]
    assert n_tokens.tolist() == counts, "padding must not count as predicted tokens"
    pooled = math.exp(nll.sum().item() / n_tokens.sum().item())
    assert pooled == pytest.approx(perplexity(model, tok, texts, batch_size=8, max_length=256), rel=1e-4)
    alone, _ = document_nll(model, tok, texts[:1])
    assert alone[0].item() == pytest.approx(nll[0].item(), rel=1e-4)   # batch-independent


def test_passkey_accuracy_scores_the_key(tiny):
    from lorakit.data.longdocs import passkey_split
    from lorakit.evaluate import passkey_accuracy

    model, tok = tiny
    examples = passkey_split(tok, 4, 96, seed=0, depths=(0.0, 1.0))
    result = passkey_accuracy(model, tok, examples, batch_size=3)
    assert set(result) == {"accuracy", "correct", "predictions", "by_depth"}
    assert len(result["correct"]) == 4 and set(result["by_depth"]) == {0.0, 1.0}
    assert result["accuracy"] == sum(result["correct"]) / 4


def test_passkey_accuracy_reads_what_greedy_decoding_writes(tiny):
    """Teacher forcing equals generation: the first argmax token is what generate() writes first, and
    an example whose prompt already ends with the key's first two words is scored on the rest."""
    from lorakit.data.longdocs import passkey_split
    from lorakit.evaluate import passkey_accuracy

    model, tok = tiny
    examples = passkey_split(tok, 5, 96, seed=1)
    first_generated = generate(model, tok, [e["prompt"] for e in examples], max_new_tokens=1, stop_at_newline=False)
    scored = passkey_accuracy(model, tok, examples)["predictions"]
    assert all(g.strip() and p.strip().startswith(g.strip()) for g, p in zip(first_generated, scored))
    for e, p in zip(examples, scored):
        greedy = generate(model, tok, [e["prompt"]], max_new_tokens=3, stop_at_newline=False)[0]
        if greedy.split()[:3] == e["key"].split():
            assert p.split() == e["key"].split()


@pytest.mark.parametrize("side", ["right", "left"])
def test_left_padded_ends_every_prompt_in_the_last_column_and_restores_the_side(tiny, side):
    model, tok = tiny
    before, tok.padding_side = tok.padding_side, side
    prompts = ["Mia lives in", "Tom"]
    batch = left_padded(model, tok, prompts)
    assert tok.padding_side == side, "the tokenizer's own padding side must come back"
    for row, prompt in zip(batch["input_ids"].tolist(), prompts):
        ids = tok(prompt)["input_ids"]
        assert row[-len(ids):] == ids
    assert batch["attention_mask"][1, 0] == 0 and batch["attention_mask"][:, -1].all()
    tok.padding_side = before


def test_generation_seconds_on_the_shipped_model(tiny):
    model, tok = tiny
    before, tok.padding_side = tok.padding_side, "right"
    assert generation_seconds(model, tok, ["Mia lives in", "Tom"], max_new_tokens=2, repeats=1) > 0
    assert tok.padding_side == "right", "generation_seconds pads on the left and restores the tokenizer"
    tok.padding_side = before
