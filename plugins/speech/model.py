"""The CTC recogniser: convolutional front end -> bidirectional recurrent stack -> units.

    feats (B, T, F) ──conv1d stride 2 (×2 for subsample 4)──▶ (B, T/s, C) ──LayerNorm──▶
        ──RecurrentStack(cell, bidirectional, lengths)──▶ (T/s, B, 2H) ──linear──▶ (T/s, B, V)

V = units (phones or characters) + 1 (blank 0). The front end shortens the sequence the
recurrent layers walk, which is where the time goes; 40 ms output frames still leave room for a
phone each. The layer norm puts every utterance's front-end output on one scale, which lets CTC
leave its all-blank start sooner.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CTCRecognizer", "subsampled_lengths"]


def subsampled_lengths(frames: torch.Tensor, subsample: int) -> torch.Tensor:
    """Output frames of the front end: each stride-2 conv (k=5, padding 2) maps L -> (L-1)//2+1."""
    out = frames
    for _ in range({1: 0, 2: 1, 4: 2}[subsample]):
        out = torch.div(out - 1, 2, rounding_mode="floor") + 1
    return out


class CTCRecognizer(nn.Module):
    """Shape: forward(feats (B, T, F), frames (B,)) -> log_probs (T', B, V), out_frames (B,)."""

    def __init__(self, n_mels: int, num_labels: int, cell: str = "lstm", hidden_size: int = 192,
                 num_layers: int = 3, subsample: int = 4, conv_channels: int = 256,
                 dropout: float = 0.1, backend: str = "auto", weight_drop: float = 0.0,
                 bidirectional: bool = True, frontend_norm: bool = True):
        super().__init__()
        from rnnsuite.core import RecurrentStack

        if subsample not in (1, 2, 4):
            raise ValueError("subsample must be 1, 2 or 4")
        self.subsample = subsample
        convs = []
        channels = n_mels
        for _ in range({1: 0, 2: 1, 4: 2}[subsample]):
            convs.append(nn.Conv1d(channels, conv_channels, kernel_size=5, stride=2, padding=2))
            channels = conv_channels
        self.frontend = nn.ModuleList(convs)
        # runs saved before the layer norm existed have none (frontend_norm=False)
        self.frontend_norm = nn.LayerNorm(channels) if frontend_norm else nn.Identity()
        self.frontend_dropout = nn.Dropout(dropout)
        self.rnn = RecurrentStack(cell, channels, hidden_size, num_layers=num_layers,
                                  bidirectional=bidirectional, dropout=dropout, weight_drop=weight_drop,
                                  backend=backend)
        self.head = nn.Linear(self.rnn.output_size, num_labels)

    def forward(self, feats: torch.Tensor, frames: torch.Tensor):
        x = feats.transpose(1, 2)                                # (B, F, T)
        lengths = frames
        for conv in self.frontend:
            x = nn.functional.gelu(conv(x))                      # (B, C, T/2)
            lengths = subsampled_lengths(lengths, 2).clamp(min=1, max=x.shape[2])
            # Zero the frames past each utterance's end: the next conv must see the same zero
            # padding whether the utterance is alone or in a padded batch.
            valid = torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None]
            x = x * valid[:, None, :].to(x.dtype)
        out_frames = lengths.clamp(min=1, max=x.shape[2])
        x = self.frontend_dropout(self.frontend_norm(x.permute(2, 0, 1)))   # (T', B, C)
        out, _ = self.rnn(x, None, out_frames, final_state=False)           # (T', B, 2H)
        logits = self.head(out)                                  # (T', B, V)
        return torch.log_softmax(logits.float(), dim=-1), out_frames
