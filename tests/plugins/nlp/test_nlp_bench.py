"""The LM bench's parity recipes must train the hand loop's model and step, whatever the NLP
defaults become: every model and training key the nlp domain sets is pinned by them."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import lm_shakespeare as bench  # noqa: E402
from rnnsuite.plugins.nlp.domain import NLP_DEFAULTS  # noqa: E402


@pytest.mark.parametrize("recipe", bench.PARITY_RECIPES)
def test_parity_recipes_pin_every_nlp_default(recipe):
    pinned = {item.split("=", 1)[0] for item in bench.recipe_sets(recipe)}
    for section in ("model", "train"):
        assert set(NLP_DEFAULTS[section]) <= pinned, (section, set(NLP_DEFAULTS[section]) - pinned)
    assert "variable_bptt" in pinned


def test_parity_recipe_is_the_hand_loop():
    cfg = bench.recipe_config("rns-lstm")
    model, train = cfg["model"], cfg["train"]
    assert (model["cell"], model["hidden_size"], model["embedding_dim"], model["num_layers"]) == ("lstm", 256, 64, 2)
    assert (model["dropout"], model["output_dropout"], model["locked_dropout"]) == (0.1, 0.0, False)
    assert (train["batch_size"], train["bptt"]) == (bench.BATCH, bench.WINDOW)
    assert (train["lr"], train["schedule"], train["ema"], train["clip_grad_norm"]) == (0.002, "constant", 0, 1.0)
