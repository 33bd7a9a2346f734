"""MusicTask: what core's trainer needs to train a model on a folder of MIDI files.

Batches are groups of whole pieces (similar lengths together), padded, walked in truncated-BPTT
windows; the state carries from one window to the next within a group and starts from zero for
each new group, so every piece is modelled from its start, as it is scored:

    group of B pieces, padded to the longest          windows of `bptt` steps
    piece 0  S x x x x x x x x x x x x x x x . .      |--- w0 ---|--- w1 ---|-- w2 --|
    piece 1  S x x x x x x x x x . . . . . . . .      reset=1    carry       carry
    ...                                               (. = padding, masked out of the loss)

events: inputs are tokens[:-1] (START first), targets tokens[1:]: NLL per event.
pianoroll: inputs frames[:-1], targets frames[1:]: NLL per frame summed over the 88 keys (the
first frame of each piece is not scored, as in the published JSB Chorales results).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from rnnsuite.core import StepOutput, Task, UserError
from rnnsuite.plugins.music.codecs import CODECS
from rnnsuite.plugins.music.data import Settings, load_corpus, split_files

__all__ = ["MusicTask", "sequence_nll"]


class MusicTask(Task):
    def __init__(self, config: dict, data: Path | None, state: dict | None):
        self.config = config
        d = config["data"]
        self.settings = Settings.from_config(d)
        self.representation = self.settings.representation
        self.vocab = self.settings.vocab()
        self.use_cache = bool(d["cache"])
        self.train_pieces, self.valid_pieces, self.test_pieces = [], [], []
        self.skipped: list[str] = []
        self.state = dict(state or {})
        self.codec = CODECS[self.representation](config, self.vocab)   # what differs by representation
        if data is not None:
            pieces, self.skipped = load_corpus(data, self.settings, self.use_cache)
            extra = {}
            for split in ("valid", "test"):  # separate folders instead of a split of DATA
                if d.get(split):
                    extra[split], skipped = load_corpus(Path(d[split]), self.settings,
                                                        self.use_cache)
                    self.skipped += skipped
            fractions = {"valid": 0.0 if "valid" in extra else float(d["valid_fraction"]),
                         "test": 0.0 if "test" in extra else self.test_fraction}
            train, valid, test = split_files(pieces, fractions["valid"], fractions["test"],
                                             int(d["split_seed"]))
            valid = extra.get("valid", valid)
            test = extra.get("test", test)
            self.train_pieces, self.valid_pieces, self.test_pieces = train, valid, test
            if not self.state:
                self.state = self._fresh_state(train, valid, test)
            print(f"music: {len(train)} training files from {data} ({self.representation})",
                  file=sys.stderr)
            for split, key, chosen in (("validation", "valid", valid), ("test", "test", test)):
                print(f"music: {_split_line(split, key, chosen, d[key], fractions[key], data)}",
                      file=sys.stderr)

    # -- run state ---------------------------------------------------------------------------

    def _fresh_state(self, train, valid, test) -> dict:
        seen = sorted({p.key for p in train} | {p.key for p in valid})
        sigs = Counter(tuple(p.time_signature) for p in train)
        tempos = [p.tempo_bpm for p in train]
        return {
            "representation": self.representation,
            "input_size": self.input_size,
            "time_signature": list(sigs.most_common(1)[0][0]) if sigs else [4, 4],
            "tempo_bpm": float(np.median(tempos)) if tempos else 120.0,
            "seen": seen,  # content keys of the files trained and validated on
            "test_files": sorted(p.name for p in test),
            "skipped": len(self.skipped),
            # pianoroll generation starts from one of these opening chords
            "first_frames": self.codec.first_frames(train),
        }

    def state_dict(self) -> dict:
        return self.state

    @property
    def batch_size(self) -> int:
        """Pieces per batch; `batch_size = 0` (the default) picks 4. For piano rolls small
        noisy batches regularise (JSB: 8.28 vs 8.37 nats/frame with 16); for events they give
        a small folder enough updates (examples/midi: 16 pieces were one padded batch, 17
        updates an epoch, and the model never learned the key)."""
        size = int(self.config["train"]["batch_size"])
        if size < 0:
            raise UserError(f"batch_size must be positive (or 0: auto), got {size}")
        return size or 4

    @property
    def regularisation(self) -> dict:
        """input_dropout, output_dropout and weight_drop, each -1 (auto) resolved by
        AUTO_REGULARISATION for the run's representation and frame output."""
        from rnnsuite.plugins.music.domain import AUTO_REGULARISATION

        m = self.config["model"]
        auto = AUTO_REGULARISATION["nade" if self.frame_output == "nade" else self.codec.name]
        return {k: float(m[k]) if float(m[k]) >= 0 else auto[k] for k in auto}

    @property
    def keys_down_input(self) -> bool:
        """events: the model also reads which keys are down (inputs (T, B, 1 + 128))."""
        return self.codec.keys_down_input

    @property
    def test_fraction(self) -> float:
        """Files of DATA held out for testing: `test_fraction`, or with -1 (auto) 0.1, none
        when a separate validation folder is given (core's held_out_fraction)."""
        from rnnsuite.core import held_out_fraction

        d = self.config["data"]
        return held_out_fraction(float(d["test_fraction"]), 0.1, bool(d.get("valid")))

    @property
    def frame_output(self) -> str:
        """pianoroll: "nade" (the keys of a frame jointly) or "independent"; events: "softmax"."""
        return self.codec.frame_output

    @property
    def input_size(self) -> int:
        return self.codec.input_size

    # -- model -------------------------------------------------------------------------------

    def build_model(self):
        m = self.config["model"]
        common = dict(hidden_size=m["hidden_size"], num_layers=m["num_layers"],
                      dropout=m["dropout"], backend=m["backend"], **self.regularisation)
        model = self.codec.build_model(common)
        if self.train_pieces and model.head is not None:
            # Start from the training set's unigram statistics (log-probabilities of tokens,
            # log-odds of keys) instead of uniform outputs: the first epochs then learn
            # structure rather than how rare each key is.
            with torch.no_grad():
                model.head.bias.copy_(torch.from_numpy(self.codec.output_prior(self.train_pieces)))
        return model

    # -- training ----------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        return len(self.train_batches(0, torch.Generator().manual_seed(0)))

    def train_batches(self, epoch: int, generator):
        if not self.train_pieces:
            raise UserError("music: no training data loaded")
        return _Epoch(self, generator)

    def training_step(self, model, batch, hidden) -> StepOutput:
        if bool(batch["reset"]):
            hidden = None
        out, hidden = model(batch["x"], hidden)  # (T, B, V), (T, B, 88) or NADE's (T, B, 88 + H)
        nll, count = sequence_nll(out, batch["y"], batch["mask"], self.representation, model.head)
        return StepOutput(nll / count.clamp(min=1), hidden=hidden, items=int(count))

    def validate(self, model) -> dict:
        if not self.valid_pieces:
            return {}
        nll = self.score(model, self.valid_pieces)["nll"]
        return {"loss": nll, "nll": nll}

    def media(self, model) -> dict:
        """Four seconds generated from the model (seed 0): its piano roll and its sound."""
        import types

        from rnnsuite.plugins.music.commands import generate_piece
        from rnnsuite.plugins.music.plot import pianoroll_figure
        from rnnsuite.plugins.music.synth import synthesize

        notes, _ = generate_piece(types.SimpleNamespace(task=self, model=model), seconds=4.0, seed=0)
        rate = 22050
        return {"samples/pianoroll": pianoroll_figure(notes, "4 s sampled at temperature 1"),
                "samples/audio": (synthesize(notes, rate), rate)}

    # -- evaluation --------------------------------------------------------------------------

    def score(self, model, pieces, batch_size: int = 16, window: int = 1024) -> dict:
        """NLL per event / per frame over whole pieces, each from a zero state."""
        device = next(model.parameters()).device
        total, count = 0.0, 0
        order = sorted(pieces, key=lambda p: len(p.data))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for i in range(0, len(order), batch_size):
                group = order[i:i + batch_size]
                x, y, mask = self._pad([p.data for p in group])
                state = None
                for t in range(0, x.shape[0], window):
                    out, state = model(x[t:t + window].to(device), state)
                    nll, n = sequence_nll(out, y[t:t + window].to(device),
                                          mask[t:t + window].to(device), self.representation,
                                          model.head)
                    total += float(nll)
                    count += int(n)
        model.train(was_training)
        return {"nll": total / max(count, 1), "items": count}

    def export_graph(self, model):
        """One step (or T steps) of the model with its state as inputs and outputs (the codec's:
        events give next-token logits; piano rolls the next frame's, or with the NADE the next
        frame itself, drawn inside the graph)."""
        return self.codec.export_graph(model)

    def evaluate(self, model, data: Path | None) -> dict:
        if data is None:
            raise UserError("music evaluate: DATA is required")
        pieces, skipped = load_corpus(data, self.settings, self.use_cache)
        seen = set(self.state.get("seen", []))
        unseen = [p for p in pieces if p.key not in seen]
        if not unseen:
            raise UserError(f"{data}: all {len(pieces)} MIDI files were used to train this run; "
                            "evaluate on files it has not seen")
        result = self.score(model, unseen)
        out = {
            "nll": round(result["nll"], 6),
            "representation": self.representation,
            "files": len(unseen),
            "skipped": len(skipped),
            "seen": len(pieces) - len(unseen),
            self.codec.unit: result["items"],
        }
        return {**out, **self.codec.metrics(result["nll"])}

    # -- batching ----------------------------------------------------------------------------

    def _pad(self, arrays):
        """Encoded pieces -> inputs, targets, mask (T, B), padded to the longest (the codec's)."""
        return self.codec.pad(arrays)

    def _augment_draw(self, data: np.ndarray, generator) -> tuple:
        """This epoch's augmentation of one piece: (semitones, time factor), each None when
        that augmentation is off, drawn from `generator` (the same draws in the same order,
        epoch after epoch, for exact replay)."""
        d = self.config["data"]
        limit = int(d["transpose"])
        if limit < 0:
            limit = self.codec.default_transpose
        shift = factor = None
        if limit > 0:
            lo_room, hi_room = self.codec.transpose_room(data)
            lo, hi = -min(limit, lo_room), min(limit, hi_room)
            shift = lo + int(torch.randint(hi - lo + 1, (), generator=generator))
        stretch = float(d["stretch"])
        if stretch > 0 and self.codec.stretch is not None:
            factor = 1.0 + stretch * (2 * float(torch.rand((), generator=generator)) - 1)
        return shift, factor

    def _augment_apply(self, data: np.ndarray, draw: tuple) -> np.ndarray:
        shift, factor = draw
        if shift is not None:
            data = self.codec.transpose(data, shift)
        if factor is not None:
            data = self.codec.stretch(data, factor)
        return data


def _split_line(split: str, key: str, pieces: list, folder: str, fraction: float, data) -> str:
    """Where a split's files came from (`key`: its config key), naming the files held out of DATA."""
    if folder:
        return f"{len(pieces)} {split} files from {folder}"
    if not pieces:
        return (f"no {split} files (nothing held out of {data}; set {key}= to a folder or "
                f"{key}_fraction to hold some out)")
    names = sorted(p.name for p in pieces)
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return f"{len(pieces)} {split} files held out of {data} ({fraction:g} of its files): {shown}"


class _Epoch:
    """One epoch of TBPTT windows over groups of pieces; its length is known before iterating."""

    def __init__(self, task: MusicTask, generator):
        t = task.config["train"]
        self.task = task
        self.bptt = int(t["bptt"])
        batch_size = task.batch_size
        pieces = task.train_pieces
        perm = torch.randperm(len(pieces), generator=generator).tolist()
        # Bucketing: sort shuffled chunks of 8 batches by length, so a group pads little.
        chunk = batch_size * 8
        groups = []
        for i in range(0, len(perm), chunk):
            part = sorted(perm[i:i + chunk], key=lambda k: len(pieces[k].data))
            groups += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
        order = torch.randperm(len(groups), generator=generator).tolist()
        self.groups = [groups[k] for k in order]
        # Augmentation draws happen here, in a fixed order, so the epoch replays exactly; the
        # augmented pieces are made a group at a time as the epoch reaches them (a stretch is
        # made here too, for its length, and let go), so no copy of the corpus is held.
        self.draws = {k: task._augment_draw(pieces[k].data, generator) for k in perm}
        lengths = {k: len(pieces[k].data) if self.draws[k][1] is None else
                   len(task._augment_apply(pieces[k].data, (None, self.draws[k][1]))) for k in perm}
        self.windows = [math.ceil((max(lengths[k] for k in g) - 1) / self.bptt) for g in self.groups]

    def __len__(self) -> int:
        return sum(self.windows)

    def __iter__(self):
        for group, n in zip(self.groups, self.windows):
            pieces = self.task.train_pieces
            x, y, mask = self.task._pad([self.task._augment_apply(pieces[k].data, self.draws[k])
                                         for k in group])
            for w in range(n):
                s = slice(w * self.bptt, (w + 1) * self.bptt)
                yield {"x": x[s], "y": y[s], "mask": mask[s],
                       "reset": torch.tensor(1 if w == 0 else 0)}


def sequence_nll(out, y, mask, representation: str, head=None):
    """Summed NLL (nats) over the unmasked steps, and their count: the representation's codec
    scores each step (events: the next token; piano rolls: the next frame's keys)."""
    nll = CODECS[representation].step_nll(out, y, head)
    return (nll * mask.to(torch.float32)).sum(), mask.sum()
