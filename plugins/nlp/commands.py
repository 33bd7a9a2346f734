"""`rnnsuite nlp generate`: prime the state on a prompt and stream sampled tokens to stdout."""

from __future__ import annotations

import sys

import click

__all__ = ["generate", "generate_ids"]


def generate_ids(model, prompt_ids: list[int], boundary_id: int, length: int, *, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, generator=None):
    """Yield `length` token ids sampled one at a time after reading `prompt_ids`.

    The prompt is read after the boundary token (as `evaluate` reads a text), in one forward
    pass; then each sampled token is fed back with the state carried.
    """
    import torch
    from rnnsuite.core.sampling import sample_next

    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        x = torch.tensor([boundary_id, *prompt_ids], dtype=torch.long, device=device).unsqueeze(1)  # (T, 1)
        logits, state = model(x)  # (T, 1, V)
        last = logits[-1]  # (1, V)
        for _ in range(length):
            token = sample_next(last, temperature, top_k, top_p, generator)  # (1,)
            yield int(token[0])
            logits, state = model(token.view(1, 1).to(device), state)
            last = logits[-1]


@click.command()
@click.argument("run", required=False, default="latest")
@click.option("--prompt", default="", help="Text to start from (the output begins with it).")
@click.option("--length", default=500, show_default=True, type=click.IntRange(min=0), help="Tokens to generate.")
@click.option("--temperature", default=0.8, show_default=True, type=click.FloatRange(min=0.0),
              help="Sampling temperature; 0 is greedy (always the most likely token).")
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(min=0),
              help="Sample only among the K most likely tokens (0: all).")
@click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0, min_open=True),
              help="Sample only within the smallest set of tokens whose probability reaches P.")
@click.option("--seed", default=None, type=int, help="Random seed: the same seed gives the same text.")
@click.option("--device", default="cpu", show_default=True, help="auto | cpu | cuda[:N] | mps.")
def generate(run, prompt, length, temperature, top_k, top_p, seed, device):
    """Stream text sampled from a trained RUN (default: latest).

    \b
    Examples:
      rnnsuite nlp generate --prompt "ROMEO:" --length 300 --seed 1
      rnnsuite nlp generate runs/lm --temperature 0        # greedy: always the same text
    """
    import torch
    from rnnsuite.core import load_run
    from rnnsuite.plugins.nlp.domain import LanguageModelDomain

    loaded = load_run(run, LanguageModelDomain(), device=device)
    tokenizer = loaded.task.tokenizer
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    out = sys.stdout
    out.write(prompt)
    last = prompt[-1:] if prompt else "\n"
    ids = generate_ids(loaded.model, tokenizer.encode(prompt), tokenizer.boundary_id, length,
                        temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
    for piece in tokenizer.stream(ids, after=prompt):
        out.write(piece)
        out.flush()
        last = piece[-1:] or last
    if last != "\n":
        out.write("\n")
    out.flush()
