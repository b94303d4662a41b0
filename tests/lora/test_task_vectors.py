"""lorakit.lora.task_vectors: cosine similarity and sign-conflict rate of two adapters' updates."""
import pytest
import torch

from lorakit.lora.task_vectors import cosine_similarity, flatten, sign_conflict_rate


def _tv(*tensors):
    return {f"layer{i}": t for i, t in enumerate(tensors)}


def test_cosine_of_a_vector_with_itself_its_negative_and_an_orthogonal_one():
    a = _tv(torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([3.0, 0.0]))
    neg = {k: -v for k, v in a.items()}
    assert cosine_similarity(a, a) == pytest.approx(1.0)
    assert cosine_similarity(a, neg) == pytest.approx(-1.0)
    ortho = _tv(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([0.0, 5.0]))
    assert cosine_similarity(a, ortho) == pytest.approx(0.0)
    # layers flattened in name order: a layer order change of the dict changes nothing
    assert cosine_similarity(dict(reversed(list(a.items()))), a) == pytest.approx(1.0)
    assert flatten(a).numel() == 6


def test_sign_conflicts_counted_where_both_are_nonzero():
    a = _tv(torch.tensor([1.0, -2.0, 3.0, 0.0, 5.0]))
    b = _tv(torch.tensor([1.0, 2.0, -3.0, 4.0, 0.0]))
    assert sign_conflict_rate(a, b) == pytest.approx(2 / 3)          # entries 0..2 count; 1 and 2 disagree
    assert sign_conflict_rate(a, a) == 0.0


def test_sign_conflicts_among_the_largest_entries_of_both():
    a = _tv(torch.tensor([10.0, 9.0, 0.1, 0.2]))
    b = _tv(torch.tensor([-10.0, 8.0, -0.3, -0.1]))
    # all nonzero entries: entry 0, 2 and 3 disagree
    assert sign_conflict_rate(a, b) == pytest.approx(3 / 4)
    # the top half of each: entries 0 and 1 in both; only entry 0 disagrees
    assert sign_conflict_rate(a, b, density=0.5) == pytest.approx(1 / 2)


def test_independent_random_vectors_conflict_about_half_the_time():
    g = torch.Generator().manual_seed(0)
    a, b = _tv(torch.randn(100_000, generator=g)), _tv(torch.randn(100_000, generator=g))
    assert sign_conflict_rate(a, b) == pytest.approx(0.5, abs=0.01)
    assert abs(cosine_similarity(a, b)) < 0.02


def test_bad_input_is_refused():
    a = _tv(torch.ones(3))
    with pytest.raises(ValueError, match="different layers"):
        cosine_similarity(a, {"other": torch.ones(3)})
    with pytest.raises(ValueError, match="different sizes"):
        cosine_similarity(a, _tv(torch.ones(4)))
    with pytest.raises(ValueError, match="zero"):
        cosine_similarity(a, _tv(torch.zeros(3)))
    with pytest.raises(ValueError, match="density"):
        sign_conflict_rate(a, a, density=0)
    with pytest.raises(ValueError, match="nonzero"):
        sign_conflict_rate(a, _tv(torch.zeros(3)))
    with pytest.raises(TypeError):
        flatten({})
    with pytest.raises(TypeError):
        flatten({"x": [1.0, 2.0]})
