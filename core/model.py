"""A generic sequence model: input encoder -> stacked recurrent layers -> output head."""

from __future__ import annotations

import torch
from rnnsuite.core.bptt import detach_hidden
from rnnsuite.core.cells import RecurrentStack
from rnnsuite.core.cells._dropout import Dropout
from torch import nn

__all__ = ["SequenceModel"]


class SequenceModel(nn.Module):
    """Encoder (embedding for tokens, linear for features, or none) -> RecurrentStack -> head.

    Args:
        cell: registered cell name.
        vocab_size: token input (nn.Embedding) when given; else `input_size` features.
        input_size: feature input; with `embedding_dim` it goes through a linear encoder.
        embedding_dim: encoder output size (defaults to vocab/input size for no linear encoder).
        hidden_size, num_layers, bidirectional, dropout, weight_drop, backend: see RecurrentStack.
        output_size: head output size (None: the model returns the recurrent outputs).
        input_dropout / output_dropout: dropout on encoder outputs / recurrent outputs.
        tie_weights: share the embedding matrix with the head (needs embedding_dim == D*H).
        locked_dropout: every dropout above keeps one mask over the time steps of a call
            (variational dropout, as AWD-LSTM) instead of a new one per element.

    Shape:
        x: (T, B) token ids or (T, B, I) features -> (T, B, output_size), state.
    """

    def __init__(self, cell: str, *, vocab_size: int | None = None, input_size: int | None = None,
                 embedding_dim: int | None = None, hidden_size: int = 128, num_layers: int = 1,
                 output_size: int | None = None, bidirectional: bool = False, dropout: float = 0.0,
                 input_dropout: float = 0.0, output_dropout: float = 0.0, weight_drop: float = 0.0,
                 tie_weights: bool = False, backend: str = "auto", locked_dropout: bool = False):
        super().__init__()
        if vocab_size is not None:
            embedding_dim = embedding_dim or hidden_size
            self.encoder = nn.Embedding(vocab_size, embedding_dim)
            rnn_input = embedding_dim
        elif input_size is not None:
            if embedding_dim:
                self.encoder = nn.Linear(input_size, embedding_dim)
                rnn_input = embedding_dim
            else:
                self.encoder = nn.Identity()
                rnn_input = input_size
        else:
            raise ValueError("SequenceModel needs vocab_size or input_size")
        self.input_dropout = Dropout(input_dropout, locked_dropout)
        self.rnn = RecurrentStack(cell, rnn_input, hidden_size, num_layers=num_layers,
                                  bidirectional=bidirectional, dropout=dropout,
                                  weight_drop=weight_drop, backend=backend,
                                  locked_dropout=locked_dropout)
        self.output_dropout = Dropout(output_dropout, locked_dropout)
        self.head = nn.Linear(self.rnn.output_size, output_size) if output_size else None
        if tie_weights:
            if vocab_size is None or self.head is None or embedding_dim != self.rnn.output_size:
                raise ValueError("tie_weights needs token input and embedding_dim == hidden output size")
            self.head.weight = self.encoder.weight

    def init_hidden(self, batch_size: int) -> tuple:
        """Zero state for `batch_size` streams."""
        return self.rnn.init_state(batch_size)

    detach_hidden = staticmethod(detach_hidden)

    def forward(self, x: torch.Tensor, state=None, lengths=None):
        emb = self.input_dropout(self.encoder(x))  # (T, B, E)
        out, state = self.rnn(emb, state, lengths)  # (T, B, D*H)
        out = self.output_dropout(out)
        if self.head is not None:
            out = self.head(out)  # (T, B, O)
        return out, state
