"""A small synthetic world: people, and facts about them, written as English sentences.

Everything the course's tiny model reads in pretraining and every QA example comes from here, so
the text is learnable at a million parameters: a closed vocabulary of a few hundred words, six
relations, several sentence templates per relation. All sampling goes through a
``random.Random`` the caller seeds, so every corpus and split is reproducible.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

NAMES = """Ada Alan Alba Alex Alma Amir Amy Ana Anna Anton Ari Ava Axel Bea Ben Bo Bruno Cara Carl Cleo
Cole Dan Dana Dara Dean Dina Eli Ella Elsa Emil Emma Eric Eva Ezra Fay Finn Flora Fred Gia Gil Gina Greta
Gus Hana Hans Hugo Ida Igor Ilsa Ina Iris Ivan Ivy Jack Jade Jan Jana Jay Jin Joel Jon Juan June Kai Kara
Karl Kate Kim Kira Lars Lea Leo Lena Levi Lila Lin Lisa Liv Lola Lou Luca Lucy Luis Luke Mae Maja Malo
Mara Mark Max May Mei Mia Mila Milo Mina Moe Nadia Nell Nia Nico Nina Noa Noah Nora Ola Olga Omar Oren
Oscar Otto Paul Pia Rae Raj Ravi Ray Rex Rita Rosa Ruby Rudy Ruth Sam Sara Sean Sia Simon Sofia Sol Tara
Ted Tess Theo Tia Tim Toby Tom Uma Una Vera Vic Vida Wade Wes Will Yara Yuki Yuri Zara Zeke Zoe""".split()

VALUES = {
    "city": """Oslo Lima Rome Paris Cairo Delhi Dublin Lisbon Madrid Vienna Prague Berlin Tokyo Seoul
Quito Bogota Nairobi Accra Dakar Tunis Athens Sofia Warsaw Riga Minsk Kyiv Baku Doha Dubai Muscat Hanoi
Manila Jakarta Perth Sydney Auckland Havana Boston Denver Austin Chicago Toronto Montreal Geneva Zurich
Milan Naples Porto Seville Bergen""".split(),
    "job": """baker nurse farmer pilot doctor teacher painter plumber lawyer sailor chef dentist singer
writer tailor miner poet judge banker driver guard clerk actor dancer potter barber butcher carpenter
cashier coach""".split(),
    "pet": """cat dog parrot rabbit hamster turtle goldfish pony ferret lizard snake frog mouse canary
goat duck""".split(),
    "colour": """red blue green yellow purple orange pink brown black white grey silver gold teal
violet""".split(),
    "food": """rice soup bread pasta pizza cheese salad noodles curry tacos sushi apples pears plums
dumplings pancakes oranges mangoes olives beans""".split(),
    "sport": """tennis golf chess hockey rugby cricket football baseball boxing rowing fencing karate
judo squash polo""".split(),
}

RELATIONS = tuple(VALUES)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# Statements of a fact. {n} is the person, {v} the value, {a} the article before the value.
FACT_TEMPLATES = {
    "city": ["{n} lives in {v}.", "{n} has a home in {v}.", "The home of {n} is in {v}.",
             "{n} moved to {v} long ago."],
    "job": ["{n} works as {a} {v}.", "{n} is {a} {v} by trade.", "The job of {n} is {v}.",
            "{n} earns a living as {a} {v}."],
    "pet": ["{n} has a pet {v}.", "{n} keeps {a} {v} as a pet.", "The pet of {n} is {a} {v}.",
            "{n} walks {a} {v} every day."],
    "colour": ["{n} likes the colour {v}.", "The favourite colour of {n} is {v}.",
               "{n} often wears {v}.", "{n} painted the door {v}."],
    "food": ["{n} loves to eat {v}.", "The favourite food of {n} is {v}.", "{n} cooks {v} every week.",
             "{n} always orders {v}."],
    "sport": ["{n} plays {v}.", "{n} is good at {v}.", "The sport of {n} is {v}.",
              "{n} watches {v} on Sundays."],
}

# Questions about a fact, as a reader would ask them.
QUESTION_TEMPLATES = {
    "city": ["Where does {n} live?", "In which city does {n} live?", "What city is home to {n}?"],
    "job": ["What does {n} do for a living?", "What is the job of {n}?", "What work does {n} do?"],
    "pet": ["What pet does {n} have?", "Which animal does {n} keep?", "What is the pet of {n}?"],
    "colour": ["What is the favourite colour of {n}?", "Which colour does {n} like?",
               "What colour does {n} like best?"],
    "food": ["What food does {n} love?", "What is the favourite food of {n}?",
             "Which dish does {n} like to eat?"],
    "sport": ["Which sport does {n} play?", "What game does {n} play?", "What is the sport of {n}?"],
}


@dataclass(frozen=True)
class Fact:
    """One fact: ``person``'s ``relation`` is ``value``."""

    person: str
    relation: str
    value: str

    def sentence(self, rng: random.Random) -> str:
        template = rng.choice(FACT_TEMPLATES[self.relation])
        return template.format(n=self.person, v=self.value, a=_article(self.value))

    def question(self, rng: random.Random) -> str:
        return rng.choice(QUESTION_TEMPLATES[self.relation]).format(n=self.person)


def sample_facts(rng: random.Random, n_people: int, facts_per_person: tuple[int, int],
                 distinct_relations: bool = False) -> list[Fact]:
    """Distinct people, each with a few distinct relations, values drawn at random.

    With ``distinct_relations`` no relation is used twice in the whole passage (one city, one
    job, ...), so a question is answered by finding the right relation; without it, two people
    can share a relation and the answer also depends on the person (binding).
    Returns the facts in a random order (sentences of different people interleave).
    """
    if not 1 <= n_people <= len(NAMES):
        raise ValueError(f"n_people must be in 1..{len(NAMES)}, got {n_people}")
    lo, hi = facts_per_person
    if not 1 <= lo <= hi <= len(RELATIONS):
        raise ValueError(f"facts_per_person must satisfy 1 <= lo <= hi <= {len(RELATIONS)}, got {facts_per_person}")
    if distinct_relations and n_people * lo > len(RELATIONS):
        raise ValueError(f"{n_people} people with at least {lo} facts each need more than "
                         f"{len(RELATIONS)} distinct relations")
    facts = []
    unused = rng.sample(RELATIONS, len(RELATIONS)) if distinct_relations else []
    for i, person in enumerate(rng.sample(NAMES, n_people)):
        k = rng.randint(lo, hi)
        if distinct_relations:
            k = min(k, len(unused) - lo * (n_people - 1 - i))
            relations, unused = unused[:k], unused[k:]
        else:
            relations = rng.sample(RELATIONS, k)
        for relation in relations:
            facts.append(Fact(person, relation, rng.choice(VALUES[relation])))
    rng.shuffle(facts)
    return facts


def vocabulary() -> list[str]:
    """Every name and value word of the world (used for repeated-span documents)."""
    words = list(NAMES)
    for values in VALUES.values():
        words.extend(values)
    return words


def make_split(split: str, n: int | None = None, *, make_example: Callable[[random.Random, str], dict],
               seeds: dict[str, int], sizes: dict[str, int], prefix: str = "") -> list[dict]:
    """The examples of ``split`` (``train``, ``validation`` or ``test``) of one task, reproducibly.

    Each task module binds its own ``make_example``, seeds, sizes and id prefix
    (``qa.make_split = partial(make_split, make_example=..., ...)``), so ``qa.make_split("train", 16)``
    is the first 16 training examples; ids are ``<prefix><split>-00000``, ...
    """
    if split not in seeds:
        raise ValueError(f"split must be one of {list(seeds)}, got {split!r}")
    rng = random.Random(seeds[split])
    n = sizes[split] if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0 or None (the whole split), got {n!r}")
    return [make_example(rng, f"{prefix}{split}-{i:05d}") for i in range(n)]
