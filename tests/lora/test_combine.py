"""lorakit.lora.combine against PEFT's add_weighted_adapter (the oracle), layer by layer."""
import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer
from torch import nn

from lorakit.lora.combine import (COMBINATION_TYPES, combine, combine_linear, delta_weight, elect_sign,
                                  ties_merge, trim, truncated_svd, weighted_sum)

WEIGHTS = [1.0, -0.6, 0.8]


class Tiny(nn.Module):
    """Three linear layers of different shapes (non-square, so a transposed factor cannot pass)."""

    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(24, 16)
        self.up_proj = nn.Linear(16, 40)
        self.down_proj = nn.Linear(40, 24)

    def forward(self, x):
        return self.down_proj(self.up_proj(self.q_proj(x)))


def _peft_model(ranks=(4, 4, 4), alphas=(8, 4, 16)):
    torch.manual_seed(0)
    targets = ["q_proj", "up_proj", "down_proj"]
    model = get_peft_model(Tiny(), LoraConfig(r=ranks[0], lora_alpha=alphas[0], target_modules=targets,
                                              init_lora_weights=False), adapter_name="a0")
    for i in range(1, len(ranks)):
        model.add_adapter(f"a{i}", LoraConfig(r=ranks[i], lora_alpha=alphas[i], target_modules=targets,
                                              init_lora_weights=False))
    return model


def _layers(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLayer)]


def _factors(layer, names):
    return ([layer.lora_A[n].weight.detach() for n in names], [layer.lora_B[n].weight.detach() for n in names],
            [layer.scaling[n] for n in names])


def _compare(model, names, combination_type, **kwargs):
    peft_kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model.add_weighted_adapter(names, WEIGHTS[: len(names)], "mix", combination_type=combination_type,
                               **peft_kwargs)
    worst = 0.0
    for _, layer in _layers(model):
        As, Bs, scalings = _factors(layer, names)
        A, B = combine(As, Bs, scalings, WEIGHTS[: len(names)], combination_type, **kwargs)
        assert A.shape == layer.lora_A["mix"].weight.shape and B.shape == layer.lora_B["mix"].weight.shape
        ours = delta_weight(A, B, 1.0)
        theirs = layer.get_delta_weight("mix")
        assert layer.scaling["mix"] == 1.0, "PEFT's combined adapter has lora_alpha = r"
        worst = max(worst, (ours - theirs).abs().max().item())
    return worst


@pytest.mark.parametrize("combination_type", COMBINATION_TYPES)
@pytest.mark.parametrize("density", [0.3, 0.7])
def test_every_type_equals_peft(combination_type, density):
    model = _peft_model()
    needs_density = combination_type not in ("linear", "cat", "svd")
    worst = _compare(model, ["a0", "a1", "a2"], combination_type, density=density if needs_density else None)
    assert worst < 1e-5, f"{combination_type}: max |ΔW_ours − ΔW_peft| = {worst:.2e}"


@pytest.mark.parametrize("combination_type", ["cat", "svd", "ties_svd", "magnitude_prune_svd"])
def test_different_ranks_equal_peft(combination_type):
    model = _peft_model(ranks=(2, 4, 6), alphas=(4, 4, 3))
    density = None if combination_type in ("cat", "svd") else 0.5
    assert _compare(model, ["a0", "a1", "a2"], combination_type, density=density) < 1e-5


@pytest.mark.parametrize("combination_type", ["svd", "ties_svd"])
def test_svd_rank_and_clamp_equal_peft(combination_type):
    model = _peft_model()
    density = 0.5 if combination_type == "ties_svd" else None
    assert _compare(model, ["a0", "a1", "a2"], combination_type, density=density, svd_rank=6, svd_clamp=0.9) < 1e-5


def test_frequency_sign_equals_peft():
    model = _peft_model()
    assert _compare(model, ["a0", "a1", "a2"], "ties", density=0.5, majority_sign_method="frequency") < 1e-5


def test_one_adapter_is_linear_as_in_peft():
    model = _peft_model()
    assert _compare(model, ["a1"], "cat") < 1e-5


def test_cat_is_exact_sum_and_rank_adds_up():
    gen = torch.Generator().manual_seed(1)
    As = [torch.randn(r, 12, generator=gen) for r in (2, 3)]
    Bs = [torch.randn(10, r, generator=gen) for r in (2, 3)]
    A, B = combine(As, Bs, [0.5, 2.0], [1.0, -1.0], "cat")
    assert A.shape == (5, 12) and B.shape == (10, 5)
    exact = delta_weight(As[0], Bs[0], 0.5) - delta_weight(As[1], Bs[1], 2.0)
    torch.testing.assert_close(B @ A, exact)


def test_linear_has_cross_terms():
    gen = torch.Generator().manual_seed(2)
    As = [torch.randn(3, 8, generator=gen) for _ in range(2)]
    Bs = [torch.randn(6, 3, generator=gen) for _ in range(2)]
    A, B = combine_linear(As, Bs, [1.0, 1.0], [1.0, 1.0])
    total = sum(delta_weight(a, b) for a, b in zip(As, Bs))
    cross = Bs[0] @ As[1] + Bs[1] @ As[0]
    torch.testing.assert_close(B @ A, total + cross)


def test_trim_keeps_largest_and_density_bounds():
    t = torch.tensor([0.1, -3.0, 2.0, 0.5])
    assert trim(t, 0.5).tolist() == [0.0, -3.0, 2.0, 0.0]
    assert trim(t, 0.0).abs().sum() == 0 and torch.equal(trim(t, 1.0), t)
    with pytest.raises(ValueError, match="density"):
        trim(t, 1.5)


def test_ties_by_hand():
    # entry 0: signs +,+,- with total +2 -> keep the two positives, mean 1.5; entry 1: all agree (-).
    t = [torch.tensor([1.0, -1.0]), torch.tensor([2.0, -2.0]), torch.tensor([-1.0, -3.0])]
    assert elect_sign(torch.stack(t)).tolist() == [[True, True], [True, True], [False, True]]
    assert ties_merge(t, [1.0, 1.0, 1.0], density=1.0).tolist() == [1.5, -2.0]


def test_truncated_svd_is_best_rank_r():
    gen = torch.Generator().manual_seed(3)
    m = torch.randn(9, 7, generator=gen)
    A, B = truncated_svd(m, 3)
    s = torch.linalg.svdvals(m)
    err = torch.linalg.matrix_norm(m - B @ A)
    torch.testing.assert_close(err, s[3:].pow(2).sum().sqrt())


def test_bad_input_is_named():
    a, b = torch.ones(2, 4), torch.ones(3, 2)
    with pytest.raises(ValueError, match="one A, B, scaling and weight"):
        combine([a], [b], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="combination_type"):
        combine([a, a], [b, b], [1.0, 1.0], [1.0, 1.0], "dare_ties")
    with pytest.raises(ValueError, match="density"):
        combine([a, a], [b, b], [1.0, 1.0], [1.0, 1.0], "ties")
    with pytest.raises(ValueError, match="same r"):
        combine([a], [torch.ones(3, 5)], [1.0], [1.0])
    with pytest.raises(ValueError, match="equal rank"):
        combine_linear([a, torch.ones(3, 4)], [b, torch.ones(3, 3)], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="one weight per adapter"):
        weighted_sum([a, a], [1.0])


def test_drop_and_rescale_equals_peft_under_the_same_seed():
    from peft.utils.merge_utils import random_pruning

    from lorakit.lora.combine import drop_and_rescale
    t = torch.randn(40, 30)
    torch.manual_seed(3)
    ours = drop_and_rescale(t, 0.3)
    torch.manual_seed(3)
    theirs = random_pruning(t, 0.3, rescale=True)
    assert torch.equal(ours, theirs)
    kept = ours != 0
    assert 0 < kept.float().mean() < 0.6                                 # about 30% survive
    assert torch.allclose(ours[kept], t[kept] / 0.3)                      # survivors rescaled by 1/density
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    state = torch.get_rng_state()
    assert torch.equal(drop_and_rescale(t, 0.5, g1), drop_and_rescale(t, 0.5, g2))
    assert torch.equal(state, torch.get_rng_state())                      # a generator leaves the global state alone
    assert drop_and_rescale(t, 1.0) is t
    for bad in (0, 1.5, -0.1, None):
        with pytest.raises(ValueError, match="density"):
            drop_and_rescale(t, bad)
