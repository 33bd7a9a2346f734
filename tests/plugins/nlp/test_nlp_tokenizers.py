"""Char and word tokenisers and their saved vocabularies."""

import json

import pytest
from rnnsuite.plugins.nlp.tokenizers import (
    CharTokenizer,
    WordTokenizer,
    build_tokenizer,
    tokenizer_from_state,
)


def test_char_round_trip_and_unknown_characters():
    tok = build_tokenizer("char", "hello world\n")
    assert tok.decode(tok.encode("hold low\n")) == "hold low\n"
    assert tok.encode("z") == [0]  # unseen -> <unk>
    assert len(tok) == len(set("hello world\n")) + 1


def test_char_vocabulary_survives_json():
    tok = CharTokenizer.fit("Tomorrow, and tomorrow\n")
    again = tokenizer_from_state(json.loads(json.dumps(tok.state_dict())))
    assert again.itos == tok.itos
    assert again.encode("and to\n") == tok.encode("and to\n")


def test_word_tokeniser_puts_eos_at_line_ends():
    tok = WordTokenizer.fit("the cat sat\nthe dog\n")
    ids = tok.encode("the dog sat\n")
    assert [tok.itos[i] for i in ids] == ["the", "dog", "sat", "<eos>"]
    assert tok.decode(ids) == "the dog sat\n"


def test_word_lowercase_and_min_count():
    tok = WordTokenizer.fit("The cat\nthe dog\nTHE cat\n", lowercase=True, min_count=2)
    assert tok.itos == ["<unk>", "<eos>", "the", "cat"]
    assert [tok.itos[i] for i in tok.encode("The Dog")] == ["the", "<unk>"]


def test_word_vocabulary_survives_json():
    tok = WordTokenizer.fit("a b b\nc\n", lowercase=True)
    again = tokenizer_from_state(json.loads(json.dumps(tok.state_dict())))
    assert again.itos == tok.itos and again.lowercase


def test_word_stream_spaces_after_prompt():
    tok = WordTokenizer.fit("to be or not\n")
    ids = tok.encode("or not\n")
    assert "".join(tok.stream(ids, after="to be")) == " or not\n"
    assert "".join(tok.stream(ids, after="to be ")) == "or not\n"


def test_bpe_round_trips_any_text_and_survives_json(sample_text):
    pytest.importorskip("tokenizers")
    tok = build_tokenizer("bpe", sample_text, vocab_size=300)
    assert len(tok) <= 300
    text = "When shall we meet — naïve 😀\n"
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(sample_text)) < len(sample_text) / 1.5  # merges were learnt
    again = tokenizer_from_state(json.loads(json.dumps(tok.state_dict())))
    assert again.encode(sample_text) == tok.encode(sample_text)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_encode_array_equals_encode_whatever_the_pieces(kind, sample_text):
    """The compact array the trainer walks is the plain encoding, cut into pieces anywhere
    (here every 50 characters), with blank lines, indented lines and characters the training
    text never held."""
    import numpy as np
    from rnnsuite.plugins.nlp.tokenizers import encode_array

    if kind == "bpe":
        pytest.importorskip("tokenizers")
    tok = build_tokenizer(kind, sample_text, vocab_size=300)
    text = sample_text + "\n\n  indented line\n\tthen tab\n\nzéro ∂ new\n" + sample_text[:500] + "no end"
    for piece in (50, 1 << 20):
        ids = encode_array(tok, text, piece=piece)
        assert ids.dtype == np.int16
        assert ids.tolist() == tok.encode(text), piece
    assert encode_array(tok, "").tolist() == []
