"""One codec per representation: what MusicTask does differently for events and piano rolls.

A codec says how encoded pieces become padded inputs, targets and a mask, how the model looks
at its two ends (token embedding and softmax, or 88 keys in and independent keys or a NADE out),
what the output layer starts from, how a step is scored, how a piece is transposed or
stretched, and what `rnnsuite export` writes. MusicTask holds one and never branches on the
representation itself.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from rnnsuite.core import UserError
from rnnsuite.plugins.music.events import keys_down, stretch_events, transpose_events
from rnnsuite.plugins.music.pianoroll import KEYS, transpose_roll

__all__ = ["EventsCodec", "PianoRollCodec", "CODECS", "codec_for"]

_STATE_DOC = "h0/c0: (layers, B, hidden) state, zeros to start; h1/c1: the state after the last step"


def _export_sizes(model) -> tuple:
    """Steps of the export's example and check inputs: any T with fused cells, else one step."""
    return (3, 5) if model.rnn.backend == "fused" else (1, 1)


class EventsCodec:
    """Performance events: token ids in, a softmax over the next token out; NLL per event."""

    name = "events"
    unit = "events"            # what `evaluate` counts
    default_transpose = 5      # transpose=-1 (auto): up to 5 semitones each way

    def __init__(self, config: dict, vocab):
        self.config, self.vocab = config, vocab
        if config["model"]["output"] != "auto":
            raise UserError(f"output={config['model']['output']} is for piano rolls; events are "
                            "predicted one token at a time (a softmax over the tokens)")

    @property
    def frame_output(self) -> str:
        return "softmax"

    @property
    def keys_down_input(self) -> bool:
        """The model also reads which keys are down (inputs (T, B, 1 + 128))."""
        m = self.config["model"]
        return bool(m["pitch_classes"]) and bool(m["keys_down"])

    @property
    def input_size(self) -> int:
        return len(self.vocab)

    def build_model(self, common: dict):
        from rnnsuite.core import SequenceModel

        m = self.config["model"]
        model = SequenceModel(m["cell"], vocab_size=len(self.vocab),
                              embedding_dim=m["embedding_dim"] or None,
                              output_size=len(self.vocab), **common)
        if m["pitch_classes"]:
            from rnnsuite.plugins.music.model import PitchClassEmbedding, PitchClassHead

            model.encoder = PitchClassEmbedding(self.vocab, model.encoder.embedding_dim,
                                                keys_down=self.keys_down_input)
            model.head = PitchClassHead(model.rnn.output_size, self.vocab)
        return model

    def output_prior(self, pieces) -> np.ndarray:
        """Log-probabilities of the tokens in the training pieces (add-one counts)."""
        counts = np.ones(len(self.vocab))
        for p in pieces:
            counts += np.bincount(p.data.astype(np.int64), minlength=len(self.vocab))
        counts[self.vocab.start] = 1.0
        return np.log(counts / counts.sum()).astype(np.float32)

    @staticmethod
    def step_nll(out, y, head=None):
        """(T, B) nats: cross-entropy of the next token."""
        return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1),
                               reduction="none").view(y.shape)

    def pad(self, arrays):
        """x, y (T, B) long (with keys_down x (T, B, 1 + 128) int32: the token, then the keys
        down after it); mask (T, B) bool."""
        lengths = [len(a) - 1 for a in arrays]
        T, B = max(lengths), len(arrays)
        mask = torch.zeros(T, B, dtype=torch.bool)
        seq = torch.zeros(T + 1, B, dtype=torch.long)
        for b, a in enumerate(arrays):
            seq[: len(a), b] = torch.from_numpy(a.astype(np.int64))
            mask[: lengths[b], b] = True
        if self.keys_down_input:
            down = torch.zeros(T, B, 128, dtype=torch.int32)
            for b, a in enumerate(arrays):
                down[: lengths[b], b] = torch.from_numpy(keys_down(a[:-1], self.vocab).astype(np.int32))
            return torch.cat([seq[:-1].unsqueeze(2).int(), down], dim=2), seq[1:], mask
        return seq[:-1], seq[1:], mask

    @staticmethod
    def transpose_room(data: np.ndarray) -> tuple:
        """Semitones the piece can move down and up and stay within MIDI's 128 notes."""
        notes = data[data < 256].astype(np.int64) % 128
        return (int(notes.min()), 127 - int(notes.max())) if len(notes) else (0, 0)

    @staticmethod
    def transpose(data: np.ndarray, shift: int) -> np.ndarray:
        return transpose_events(data, shift)

    def stretch(self, data: np.ndarray, factor: float) -> np.ndarray:
        return stretch_events(data, factor, self.vocab)

    def first_frames(self, pieces) -> list:
        return []

    @staticmethod
    def metrics(nll: float) -> dict:
        return {"perplexity": round(math.exp(min(nll, 50.0)), 4)}

    def export_graph(self, model):
        """Token ids (with keys_down: and the keys down) in, next-token logits out."""
        from rnnsuite.core.export import step_graph

        vocab = len(self.vocab)
        x, check = (torch.randint(vocab, (t, b)) for t, b in zip(_export_sizes(model), (2, 3)))
        if self.keys_down_input:
            x, check = (torch.cat([v.unsqueeze(2), torch.randint(2, (*v.shape, 128))], 2)
                        for v in (x, check))
            what = "tokens: (T, B, 1 + 128) int64, the token id then the 128 keys down after it"
        else:
            what = "tokens: (T, B) int64 event-token ids (the vocabulary is in task_state)"
        return step_graph(model, x, "tokens", "logits",
                          f"{what}; logits: (T, B, vocab) next-token logits; {_STATE_DOC}", check)


class PianoRollCodec:
    """Piano rolls: the 88 keys of a frame in, the next frame's keys out, jointly by a NADE
    (output=auto or nade) or independently; NLL per frame summed over the keys."""

    name = "pianoroll"
    unit = "frames"
    default_transpose = 0

    def __init__(self, config: dict, vocab=None):
        self.config, self.vocab = config, vocab

    @property
    def frame_output(self) -> str:
        output = self.config["model"]["output"]
        return "nade" if output == "auto" else output

    keys_down_input = False
    input_size = KEYS

    def build_model(self, common: dict):
        from rnnsuite.core import SequenceModel

        m = self.config["model"]
        model = SequenceModel(m["cell"], input_size=KEYS, embedding_dim=m["embedding_dim"] or None,
                              output_size=KEYS, **common)
        if self.frame_output == "nade":
            from rnnsuite.plugins.music.nade import FrameNADE

            model.head = FrameNADE(model.rnn.output_size, KEYS, int(m["nade_hidden"]))
        return model

    @staticmethod
    def output_prior(pieces) -> np.ndarray:
        """Log-odds of each key sounding in the training frames (add-one counts)."""
        on = sum(p.data.sum(0).astype(np.float64) for p in pieces) + 1
        frames = sum(len(p.data) for p in pieces) + 2
        prob = on / frames
        return np.log(prob / (1 - prob)).astype(np.float32)

    @staticmethod
    def step_nll(out, y, head=None):
        """(T, B) nats: -log p(frame), exact under a FrameNADE `head`, else independent
        Bernoulli keys summed over the 88 (either way the published per-frame figure)."""
        from rnnsuite.plugins.music.nade import FrameNADE

        if isinstance(head, FrameNADE):
            return head.nll(out, y)
        return F.binary_cross_entropy_with_logits(out.float(), y.float(), reduction="none").sum(-1)

    @staticmethod
    def pad(arrays):
        """x, y (T, B, 88) float; mask (T, B) bool."""
        lengths = [len(a) - 1 for a in arrays]
        T, B = max(lengths), len(arrays)
        mask = torch.zeros(T, B, dtype=torch.bool)
        seq = torch.zeros(T + 1, B, KEYS)
        for b, a in enumerate(arrays):
            seq[: len(a), b] = torch.from_numpy(a.astype(np.float32))
            mask[: lengths[b], b] = True
        return seq[:-1], seq[1:], mask

    @staticmethod
    def transpose_room(data: np.ndarray) -> tuple:
        keys = np.flatnonzero(data.any(axis=0))
        return (int(keys.min()), KEYS - 1 - int(keys.max())) if len(keys) else (0, 0)

    @staticmethod
    def transpose(data: np.ndarray, shift: int) -> np.ndarray:
        return transpose_roll(data, shift)

    stretch = None   # piano rolls keep their grid

    @staticmethod
    def first_frames(pieces) -> list:
        """Opening chords (MIDI note numbers) that generation starts from."""
        return [[int(k) + 21 for k in np.flatnonzero(p.data[0])] for p in pieces[:64]]

    @staticmethod
    def metrics(nll: float) -> dict:
        return {}

    def export_graph(self, model):
        """The frame in; the next frame's logits out (independent keys) or, with the NADE, the
        next frame itself, drawn key by key in the graph from `uniform` at `temperature`."""
        from rnnsuite.core.export import step_graph

        steps = _export_sizes(model)
        x, check = (torch.randint(2, (t, b, KEYS)).float() for t, b in zip(steps, (2, 3)))
        frames = "frames: (T, B, 88) float 0/1, piano keys A0..C8 sounding in each frame"
        if self.frame_output != "nade":
            return step_graph(model, x, "frames", "logits",
                              f"{frames}; logits: (T, B, 88) each key's log-odds in the next "
                              f"frame; {_STATE_DOC}", check)
        axes = {0: "steps", 1: "batch"} if model.rnn.backend == "fused" else {1: "batch"}
        extra = {"uniform": torch.rand(steps[0], 2, KEYS), "temperature": torch.ones(1)}
        return step_graph(model, x, "frames", "next_frames",
                          f"{frames}; uniform: (T, B, 88) noise in [0, 1), one draw per key; "
                          "temperature: (1,) (1 samples the model; near 0 takes each key's likelier "
                          "value); next_frames: (T, B, 88) the frame after each one, drawn by the "
                          f"NADE; {_STATE_DOC}", check, sampler=NadeSampler(model.head),
                          extra=extra, extra_axes={"uniform": axes, "next_frames": axes})


class NadeSampler(torch.nn.Module):
    """The NADE's key-by-key draw as tensor operations (exported with the graph): the
    conditioning output (T, B, 88 + H) and uniform noise (T, B, 88) -> frames (T, B, 88); key i
    sounds when its noise is below sigmoid(logit_i / temperature), as FrameNADE.sample."""

    def __init__(self, nade):
        super().__init__()
        self.nade = nade

    def forward(self, params, uniform, temperature):
        nade = self.nade
        b, a = params.float().split([nade.keys, nade.hidden], dim=-1)
        keys = []
        for i in range(nade.keys):
            logit = b[..., i] + (torch.sigmoid(a) * nade.V[i]).sum(-1)
            on = (uniform[..., i] < torch.sigmoid(logit / temperature)).float()
            a = a + on.unsqueeze(-1) * nade.W[i]
            keys.append(on)
        return torch.stack(keys, dim=-1)


CODECS = {"events": EventsCodec, "pianoroll": PianoRollCodec}


def codec_for(config: dict, vocab):
    """The codec of config's representation."""
    return CODECS[config["data"]["representation"]](config, vocab)
