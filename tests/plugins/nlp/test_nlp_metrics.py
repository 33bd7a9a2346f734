"""Perplexity and bits per character against computations made by hand."""

import math

import pytest
import torch
from rnnsuite.core import default_config
from rnnsuite.plugins.nlp.domain import LanguageModelDomain
from rnnsuite.plugins.nlp.metrics import lm_metrics
from rnnsuite.plugins.nlp.task import build_language_model, score_ids, score_text
from rnnsuite.plugins.nlp.tokenizers import CharTokenizer, WordTokenizer


def tiny_model(vocab_size, cell="lstm", seed=0):
    config = default_config(LanguageModelDomain())
    config["model"].update(cell=cell, hidden_size=6, embedding_dim=5, num_layers=2, dropout=0.0,
                           output_dropout=0.0, backend="reference")
    torch.manual_seed(seed)
    return build_language_model(config, vocab_size).eval()


def test_lm_metrics_formulas():
    m = lm_metrics(total_nats=12.0, tokens=4, characters=6)
    assert m["nats_per_token"] == 3.0
    assert m["perplexity"] == pytest.approx(math.exp(3.0))
    assert m["bits_per_char"] == pytest.approx(12.0 / math.log(2) / 6)


def test_uniform_model_has_perplexity_vocab_size():
    text = "the cat sat on the mat\nthe dog sat\n"
    tok = WordTokenizer.fit(text)
    model = tiny_model(len(tok))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # all logits 0: every token has probability 1/V
    m = score_text(model, tok, text)
    V, n = len(tok), len(tok.encode(text))
    assert m["tokens"] == n == 11 and m["characters"] == len(text)
    assert m["perplexity"] == pytest.approx(V)
    assert m["bits_per_char"] == pytest.approx(n * math.log2(V) / len(text))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_scores_match_a_token_by_token_hand_computation(cell):
    text = "Fair is foul, and foul is fair:\nHover through the fog and filthy air.\n"
    tok = CharTokenizer.fit(text)
    model = tiny_model(len(tok), cell)
    ids = tok.encode(text)
    # by hand: one token at a time, the state carried, softmax written out in Python floats
    total, state, prev = 0.0, None, tok.encode("\n")[0]
    with torch.no_grad():
        for target in ids:
            logits, state = model(torch.tensor([[prev]]), state)
            row = [float(v) for v in logits[0, 0]]
            top = max(row)
            log_z = top + math.log(sum(math.exp(v - top) for v in row))
            total += log_z - row[target]
            prev = target
    m = score_text(model, tok, text)
    assert m["nats_per_token"] == pytest.approx(total / len(ids), rel=1e-5)
    assert m["perplexity"] == pytest.approx(math.exp(total / len(ids)), rel=1e-5)
    assert m["bits_per_char"] == pytest.approx(total / math.log(2) / len(text), rel=1e-5)


def test_windows_do_not_change_the_score():
    text = "When shall we three meet again\nIn thunder, lightning, or in rain?\n"
    tok = CharTokenizer.fit(text)
    model = tiny_model(len(tok), "gru")
    ids = tok.encode(text)
    whole, n = score_ids(model, ids, tok.boundary_id, window=10_000)
    windowed, _ = score_ids(model, ids, tok.boundary_id, window=7)
    assert n == len(ids)
    assert windowed == pytest.approx(whole, rel=1e-6)


def test_parallel_streams_score_every_token_once():
    text = "abcdefghij" * 7 + "\n"
    tok = CharTokenizer.fit(text)
    model = tiny_model(len(tok))
    ids = tok.encode(text)
    total, n = score_ids(model, ids, tok.boundary_id, streams=4)
    assert n == len(ids)
    # each of the 4 pieces starts from a zero state: score them one by one
    L = -(-len(ids) // 4)
    by_piece = 0.0
    for b in range(4):
        piece = ids[b * L:(b + 1) * L]
        first_input = tok.boundary_id if b == 0 else ids[b * L - 1]
        by_piece += score_ids(model, piece, first_input)[0]
    assert total == pytest.approx(by_piece, rel=1e-6)
