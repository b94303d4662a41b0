"""Long documents for context extension: world text of an exact token length, with or without a passkey.

The shipped model was pretrained on 128-token sequences. To teach and test a longer context, the
course needs documents of exactly N tokens (S²-Attn cuts a sequence into groups of N / 4, so every
training sequence has the same length), built from the same world so that nothing but the length
is new:

* :func:`long_document`: a *roster* (facts about eight to twelve people, in varied wording) followed
  by questions about them answered in the pretraining corpus' ``Q: … A: …`` style. A question near
  the end is about a fact stated hundreds of tokens earlier, so predicting its answer needs the long
  context. Held-out documents (:data:`HELDOUT_SEED`) measure perplexity.
* :func:`passkey_document`: the passkey retrieval test of Mohtashami & Jaggi (2023, "Landmark
  Attention", arXiv 2305.16300) that LongLoRA reports (Chen et al. 2023, arXiv 2309.12307):
  a key hidden at a chosen depth of a long filler text, asked for at the end. The filler is a long
  document and the key is three world words (``"yellow brown teacher"``): the shipped model never
  saw digits, so a numeric key would test its embeddings, not its context.

Lengths are counted with the model's tokenizer: ``len(tokenizer(text).input_ids) + 1`` (the EOS
token :func:`lorakit.training.loop.encode_pairs` appends) equals the requested length. The filler is a crop
of a longer text (it may start mid-sentence, as a crop of a book does). The pretraining stream
(:data:`lorakit.data.corpus.DEFAULT_MIX`) is not touched.
"""
from __future__ import annotations

import random

from lorakit.data.world import VALUES, sample_facts

NEEDLE = "The pass key is {key}. Remember it. {key} is the pass key."
QUESTION = "\nWhat is the pass key? The pass key is"
KEY_WORDS = tuple(w for values in VALUES.values() for w in values)
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Where the key sits, as a fraction of the filler before it (0 = start, 1 = right before the question)."""
HELDOUT_SEED = 77
TRAIN_SEED = 7


def _encode(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (through the Rust tokenizer when there is one: 2x faster)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.encode(text, add_special_tokens=False).ids
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _n_tokens(tokenizer, text: str) -> int:
    return len(_encode(tokenizer, text))


def _roster(rng: random.Random) -> tuple[list[str], list]:
    """Fact sentences about 8-12 people (shuffled) and the facts themselves."""
    facts = sample_facts(rng, n_people=rng.randint(8, 12), facts_per_person=(2, 4))
    return [f.sentence(rng) for f in facts], facts


def _world_lines(rng: random.Random, n_tokens: int, tokenizer) -> list[str]:
    """Roster sentences, then ``Q: … A: …`` lines about the roster, until at least ``n_tokens`` tokens.

    Lines are drawn a batch at a time and counted in one tokenizer call; the generator is then
    rewound to just after the line that reached ``n_tokens``, so the result (and what ``rng`` draws
    next) is the same as drawing and counting one line at a time.
    """
    sentences, facts = _roster(rng)
    lines = [" ".join(sentences)]
    total = _n_tokens(tokenizer, lines[0])
    while total < n_tokens:
        batch, states = [], []
        for _ in range(16):
            fact = rng.choice(facts)
            answer = fact.value if rng.random() < 0.5 else fact.sentence(rng)
            batch.append(f"Q: {fact.question(rng)} A: {answer}")
            states.append(rng.getstate())
        counts = [len(ids) for ids in tokenizer(["\n" + line for line in batch], add_special_tokens=False)["input_ids"]]
        if not any(counts):   # a tokenizer that counts nothing would loop forever
            raise ValueError("the tokenizer returned no tokens for world text")
        for line, count, state in zip(batch, counts, states):
            lines.append(line)
            total += count
            if total >= n_tokens:
                rng.setstate(state)
                break
    return lines


class _Source:
    """A filler text and its token ids, tokenized once and cropped many times."""

    def __init__(self, tokenizer, text: str):
        self.tokenizer, self.ids = tokenizer, _encode(tokenizer, text)

    def crop(self, n_tokens: int, skip_end: int = 0) -> str:
        """``n_tokens`` tokens ending ``skip_end`` tokens before the end, decoded."""
        end = len(self.ids) - skip_end
        if end - n_tokens < 0:
            raise ValueError(f"cannot crop {n_tokens} tokens from a text of {len(self.ids)}")
        return self.tokenizer.decode(self.ids[end - n_tokens:end])


def _fit(tokenizer, build, budget: int, target: int) -> str | None:
    """Call ``build(budget, skip_end)`` and adjust the budget until the text has exactly ``target`` tokens.

    The first word of a crop re-tokenizes differently at the start of a text (no space before it),
    so the count can jump over the target; then the crop's end is moved back a token or two, which
    moves its start too. Returns ``None`` when nothing fits (the caller tries another filler text).
    """
    for skip_end in range(4):
        tried, guess = set(), budget
        while guess not in tried and len(tried) < 4:
            tried.add(guess)
            text = build(guess, skip_end)
            error = _n_tokens(tokenizer, text) - target
            if error == 0:
                return text
            guess -= error
    return None


def _exact(tokenizer, rng: random.Random, n_tokens: int, make_build, budget: int) -> str:
    """A text of exactly ``n_tokens - 1`` tokens from ``make_build(source)``, trying a few filler sources."""
    for _ in range(5):
        source = _Source(tokenizer, "\n".join(_world_lines(rng, n_tokens + 64, tokenizer)))
        text = _fit(tokenizer, make_build(source), budget, n_tokens - 1)
        if text is not None:
            return text
    raise ValueError(f"could not build a text of exactly {n_tokens - 1} tokens with this tokenizer")


def long_document(rng: random.Random, tokenizer, n_tokens: int) -> str:
    """A world document of exactly ``n_tokens`` tokens including the EOS token a trainer appends.

    A crop of a roster of facts about 8-12 people followed by ``Q: … A: …`` lines about them, e.g.
    ``"…ives in Oslo. Tom plays golf. …\\nQ: Where does Tom live? A: Oslo\\nQ: …"``.
    """
    _check_length(n_tokens)
    return _exact(tokenizer, rng, n_tokens, lambda source: source.crop, n_tokens - 1)


def passkey_document(rng: random.Random, tokenizer, n_tokens: int, depth: float) -> dict:
    """A passkey example of exactly ``n_tokens`` tokens (text plus EOS), the key at ``depth``.

    Args:
        rng: the source of randomness (key, filler).
        tokenizer: the model's tokenizer; lengths are counted with it.
        n_tokens: the total length, e.g. 128 (the shipped model's training length) or 512.
        depth: where the key goes, in [0, 1]: the fraction of the filler tokens before it.

    Returns:
        ``{"text", "prompt", "answer", "key", "depth", "key_position"}``: ``text == prompt + answer``;
        the prompt ends with ``"The pass key is"``, the answer is ``" <key>."``; ``depth`` is the
        requested depth and ``key_position`` the token index where the key's sentence starts (it is
        placed at the sentence or line boundary nearest to the requested depth).
    """
    _check_length(n_tokens)
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must be in [0, 1] (0 = start of the filler, 1 = its end), got {depth}")
    key = " ".join(rng.sample(KEY_WORDS, 3))
    needle, answer = NEEDLE.format(key=key), f" {key}."
    fixed = _n_tokens(tokenizer, " " + needle) + _n_tokens(tokenizer, QUESTION) + _n_tokens(tokenizer, answer) + 1
    if fixed + 8 > n_tokens:
        raise ValueError(f"n_tokens={n_tokens} leaves no room for filler around the passkey (needs > {fixed + 8})")
    where = {}

    def make_build(source: _Source):
        def build(budget: int, skip_end: int) -> str:
            filler = source.crop(budget, skip_end)
            where["before"] = filler[:_boundary(filler, depth)]
            return _insert(filler, len(where["before"]), needle) + QUESTION + answer
        return build

    text = _exact(tokenizer, rng, n_tokens, make_build, n_tokens - fixed)
    return {"text": text, "prompt": text[: -len(answer)], "answer": answer, "key": key, "depth": depth,
            "key_position": _n_tokens(tokenizer, where["before"])}


def _insert(text: str, cut: int, sentence: str) -> str:
    """``text`` with ``sentence`` inserted at index ``cut``, one space on each side (none at a newline)."""
    left, right = text[:cut].rstrip(" "), text[cut:].lstrip(" ")
    before = " " if left and not left.endswith("\n") else ""
    after = " " if right and not right.startswith("\n") else ""
    return left + before + sentence + after + right


def _boundary(text: str, depth: float) -> int:
    """The index of the sentence or line boundary of ``text`` nearest to ``depth`` of its length."""
    cuts = [0] + [i + 1 for i, ch in enumerate(text) if ch in ".\n" and i + 1 < len(text)] + [len(text)]
    target = depth * len(text)
    return min(cuts, key=lambda c: abs(c - target))


def _check_length(n_tokens: int) -> None:
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 32:
        raise ValueError(f"n_tokens must be an int >= 32 (the document's length in tokens), got {n_tokens!r}")


def passkey_split(tokenizer, n: int, n_tokens: int, seed: int, depths=DEPTHS) -> list[dict]:
    """``n`` passkey examples of ``n_tokens`` tokens, depths cycling through ``depths`` (reproducible)."""
    rng = random.Random(seed)
    return [passkey_document(rng, tokenizer, n_tokens, depths[i % len(depths)]) for i in range(n)]


def long_documents(tokenizer, n: int, n_tokens: int, seed: int = HELDOUT_SEED) -> list[str]:
    """``n`` long documents of ``n_tokens`` tokens; the default seed gives the held-out set."""
    rng = random.Random(seed)
    return [long_document(rng, tokenizer, n_tokens) for _ in range(n)]


def lm_pair(example: dict | str) -> tuple[str, str]:
    """(prompt, answer) for :func:`lorakit.training.loop.finetune` with the loss on *every* token.

    An empty prompt makes the whole text the "answer", i.e. plain language modelling, as LongLoRA
    fine-tunes (on a passkey example the key is then one of the predicted spans).
    """
    return "", example if isinstance(example, str) else example["text"]


def passkey_pair(example: dict) -> tuple[str, str]:
    """(prompt, answer) with the loss on the key only (answer-only, the QA task's convention)."""
    return example["prompt"], example["answer"]


__all__ = ["DEPTHS", "HELDOUT_SEED", "KEY_WORDS", "NEEDLE", "QUESTION", "TRAIN_SEED", "lm_pair", "long_document",
           "long_documents", "passkey_document", "passkey_pair", "passkey_split"]
