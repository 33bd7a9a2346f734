"""Language-model metrics from a summed cross-entropy. Pure Python."""

from __future__ import annotations

import math

__all__ = ["lm_metrics"]


def lm_metrics(total_nats: float, tokens: int, characters: int) -> dict:
    """Metrics of a text scored token by token with the state carried through it.

    Args:
        total_nats: sum over the text's tokens of -ln p(token | everything before it).
        tokens: number of tokens scored.
        characters: number of characters of the text those tokens spell.

    Returns:
        nats_per_token (mean cross-entropy), perplexity = exp(nats_per_token),
        bits_per_char = total_nats / ln 2 / characters (comparable across tokenisers),
        tokens, characters.
    """
    nats = total_nats / max(tokens, 1)
    return {
        "nats_per_token": nats,
        "perplexity": math.exp(min(nats, 700.0)),
        "bits_per_char": total_nats / math.log(2) / max(characters, 1),
        "tokens": int(tokens),
        "characters": int(characters),
    }
