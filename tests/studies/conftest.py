"""Fixtures shared by the studies' tests."""
import pytest

LONGLORA_TOY = dict(short_len=64, factor=2, format_steps=2, format_batch=2, long_steps=2, long_batch=2,
                    n_format_train=4, n_long_train=4, n_passkey=5, n_ppl=2, n_passkey_short=3, eval_batch=5,
                    ppl_batch=2)


@pytest.fixture(scope="module")
def longlora_toy(request):
    """The LongLoRA experiment's stage 1 at toy sizes on the shipped model: (base, tokenizer, data, config, run).
    A test module changes sizes with a module-level ``LONGLORA_TOY_OVERRIDES`` dict."""
    from lorakit.models.loading import load
    from lorakit.studies import longlora as exp

    sizes = {**LONGLORA_TOY, **getattr(request.module, "LONGLORA_TOY_OVERRIDES", {})}
    model, tokenizer, _ = load(None, quiet=True)
    config = exp.ExperimentConfig(**sizes)
    data = exp.make_data(tokenizer, config)
    base, run = exp.teach_format(model, tokenizer, data, config)
    return base, tokenizer, data, config, run
