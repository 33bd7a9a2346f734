"""Pitch-class sharing for the events model: an input embedding and an output head that give
every NOTE_ON/NOTE_OFF token a part shared by its pitch class (C in every octave, on or off).

With one independent embedding row and head row per token, the model must learn from the data
that NOTE_ON 48, 60, 72 and NOTE_OFF 60 are the same C: the 20 example chorales hold ~6,000
onsets, too few for that, and a model trained on them picks each next pitch near the previous
one with no sense of the key (bench/RESULTS.md, music: "Why the events model was not tonal").
Sharing the pitch class lets the hidden state add up the key on the way in (one vector per
pitch class, whatever the octave) and favour the key's notes in every octave on the way out:

    token t ──▶ E_token[t] + E_pc[pc(t)] (+ K down_t)      pc(t) = p mod 12 for ON/OFF p, else none
    h ──▶ W h + b + (U h)[pc(t)]  for every output token  (U: 12 rows; none adds 0)

With `keys_down` the embedding also reads which of the 128 keys are down after the token
(`events.keys_down`, the same state the sampler keeps): an LSTM that must remember every
sounding note from its NOTE_ON loses track of some while it samples, and those notes drone on
to the end of the piece (a third of the sounding time of examples/midi models without it).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PitchClassEmbedding", "PitchClassHead", "pitch_class_index"]

NONE = 12  # the pitch-class index of tokens that are not notes


def pitch_class_index(vocab) -> torch.Tensor:
    """(V,) long: the pitch class 0..11 of each NOTE_ON/NOTE_OFF token, 12 for every other."""
    index = torch.full((len(vocab),), NONE, dtype=torch.long)
    pitches = torch.arange(128)
    index[vocab.note_on + pitches] = pitches % 12
    index[vocab.note_off + pitches] = pitches % 12
    return index


class PitchClassEmbedding(nn.Module):
    """Token ids -> token embedding plus the embedding of the token's pitch class, and with
    `keys_down`, plus a projection of the keys that are down after the token.

    Shape: (T, B) long -> (T, B, dim); with keys_down (T, B, 1 + 128) long: the token id, then
    the 128 keys (0 up, 1 down).
    """

    def __init__(self, vocab, dim: int, keys_down: bool = False):
        super().__init__()
        self.token = nn.Embedding(len(vocab), dim)
        self.pitch_class = nn.Embedding(NONE + 1, dim, padding_idx=NONE)  # row 12 stays zero
        self.keys = nn.Linear(128, dim, bias=False) if keys_down else None
        self.register_buffer("pc_index", pitch_class_index(vocab), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x[..., 0] if self.keys is not None else x
        emb = self.token(tokens) + self.pitch_class(self.pc_index[tokens])
        if self.keys is not None:
            emb = emb + self.keys(x[..., 1:].to(emb.dtype))
        return emb


class PitchClassHead(nn.Module):
    """Hidden state -> token logits, each note token's logit plus a logit of its pitch class.

    `bias` is the per-token bias (the task starts it at the unigram log-probabilities).
    Shape: (..., in_features) -> (..., V).
    """

    def __init__(self, in_features: int, vocab):
        super().__init__()
        self.token = nn.Linear(in_features, len(vocab))
        self.pitch_class = nn.Linear(in_features, NONE, bias=False)
        self.register_buffer("pc_index", pitch_class_index(vocab), persistent=False)

    @property
    def bias(self) -> nn.Parameter:
        return self.token.bias

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pc = self.pitch_class(h)  # (..., 12)
        pc = torch.cat([pc, pc.new_zeros(*pc.shape[:-1], 1)], dim=-1)  # (..., 13): none adds 0
        return self.token(h) + pc.index_select(-1, self.pc_index)  # (..., V)
