"""The speech Task: what core's trainer needs to train and evaluate a CTC recogniser.

Batches are *plans* (utterance indices, speed factors, an augmentation seed): cheap to produce
and to skip on exact resume. The features are computed in `training_step`, on the run's device,
from the int16 waveforms kept in memory:

    plan {index (B,), speed (B,), seed (1,)}
      -> waves (B, N) -> speed perturbation -> log-mel (B, T, 80) -> normalise -> SpecAugment
      -> CTCRecognizer -> log_probs (T', B, V) -> CTC loss against targets (sum L,)
"""

from __future__ import annotations

import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from rnnsuite.core import StepOutput, Task, UserError
from rnnsuite.plugins.speech.data import load_corpus, read_entries, report_skipped
from rnnsuite.plugins.speech.decode import (
    CharNgramLM,
    Lexicon,
    WordNgramLM,
    forced_align,
    greedy_decode,
    lexicon_beam_search,
    prefix_beam_search,
    word_times,
)
from rnnsuite.plugins.speech.features import HOP, LogMel, spec_augment, speed_perturb
from rnnsuite.plugins.speech.metrics import ErrorRate
from rnnsuite.plugins.speech.model import CTCRecognizer, subsampled_lengths
from rnnsuite.plugins.speech.text import Vocabulary, normalize

__all__ = ["SpeechTask"]


def _min_ctc_frames(labels: list[int]) -> int:
    """Frames CTC needs for `labels`: one per label plus a blank between repeated labels."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


def _data_option(config: dict, key: str):
    """A `data` config value; runs saved before the key existed get the current default."""
    from rnnsuite.plugins.speech.domain import SpeechDomain

    data = config["data"]
    return data[key] if key in data else SpeechDomain().config_defaults()["data"][key]


def _transcripts(path) -> list[str]:
    """Normalised transcripts of a manifest, a folder of x.wav + x.txt, or a text file with one
    transcript per line (the `lexicon=PATH` source)."""
    path = Path(path)
    if path.suffix.lower() == ".txt" and path.is_file():
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read the lexicon texts ({type(exc).__name__})") from None
        texts = [normalize(line) for line in lines]
    else:
        texts = [normalize(e.text) for e in read_entries(path)[0]]
    texts = [t for t in texts if t]
    if not texts:
        raise UserError(f"{path}: no transcripts to build a lexicon from")
    return texts


def _is_valid_split(path: str, fraction: float) -> bool:
    # A hash of the path, not a random draw: the split is the same on resume and on reruns.
    return (zlib.crc32(path.encode("utf-8")) % 10_000) < fraction * 10_000


class SpeechTask(Task):
    def __init__(self, config: dict, data: Path | None, state: dict | None):
        self.config = config   # kept by reference: `evaluate --beam` updates config["data"]
        d = config["data"]
        self.utterances, self.valid, self.skipped = [], [], []
        self.lexicon, self.word_lm = None, None
        if state:
            self.vocab = Vocabulary(state["chars"])
            self.lm = CharNgramLM.from_state(state["lm"]) if state.get("lm") else None
            if state.get("lexicon"):
                self.lexicon = Lexicon.from_state(state["lexicon"])
                self.word_lm = (WordNgramLM.from_state(state["word_lm"])
                                if state.get("word_lm") else None)
        if data is None:
            if not state:
                raise UserError("speech: a run needs training data or a saved vocabulary")
            self._choose_lexicon(None)
            return
        corpus = load_corpus(data, d["min_seconds"], d["max_seconds"])
        if not corpus.utterances:
            raise UserError(f"{data}: no usable recordings ({len(corpus.skipped)} skipped)")
        if not state:
            self.vocab = Vocabulary.from_texts(u.text for u in corpus.utterances)
        usable, too_dense = [], []
        subsample = config["model"]["subsample"]
        fastest = max(d["speed_perturb"] or [1.0])
        for u in corpus.utterances:
            frames = int(subsampled_lengths(torch.tensor(len(u.audio) // HOP + 1), subsample))
            need = _min_ctc_frames(self.vocab.encode(u.text))
            if need > int(frames / fastest):
                too_dense.append((u.path, f"transcript too long for the audio ({need} CTC "
                                          f"frames needed, {int(frames / fastest)} available): "
                                          "mislabelled?"))
            else:
                usable.append(u)
        report_skipped(too_dense)
        self.skipped = corpus.skipped + too_dense
        if not usable:
            raise UserError(f"{data}: no usable recordings ({len(self.skipped)} skipped)")
        fraction = d["valid_fraction"]
        self.valid = [u for u in usable if _is_valid_split(u.path, fraction)]
        self.utterances = [u for u in usable if not _is_valid_split(u.path, fraction)]
        if not self.utterances:  # tiny corpora: train on everything
            self.utterances, self.valid = usable, []
        if not state:
            order = d["lm_order"]
            self.lm = (CharNgramLM.estimate([u.text for u in self.utterances], order)
                       if order > 0 else None)
        if self.lexicon is None:   # a new run, or a resumed one trained before lexicons
            self._choose_lexicon([u.text for u in self.utterances])
        hours = sum(u.seconds for u in self.utterances) / 3600
        print(f"speech: {len(self.utterances)} training utterances ({hours:.2f} h), "
              f"{len(self.valid)} validation, {len(self.skipped)} skipped; "
              f"{len(self.vocab) - 1} characters", file=sys.stderr)

    def _choose_lexicon(self, training_texts) -> None:
        """Set the lexicon and word LM from the `lexicon` option: 'off', 'on' (the run's own,
        built from `training_texts` when training) or a PATH whose transcripts give them."""
        choice = str(_data_option(self.config, "lexicon"))
        if choice == "off":
            self.lexicon, self.word_lm = None, None
            return
        if choice == "on":
            if self.lexicon is not None or training_texts is None:
                if self.lexicon is None and _data_option(self.config, "beam") > 1:
                    print("speech: this run has no lexicon (trained before lexicon decoding); "
                          "decoding without one. Pass --lexicon MANIFEST (e.g. the training "
                          "manifest) to build it from those transcripts.", file=sys.stderr)
                return
            texts = training_texts
        else:
            texts = _transcripts(choice)
        self.lexicon = Lexicon.from_texts(texts)
        order = _data_option(self.config, "word_lm_order")
        self.word_lm = WordNgramLM.estimate(texts, order) if order > 0 else None

    # -- contract ------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"chars": self.vocab.chars,
                "lm": self.lm.state_dict() if self.lm is not None else None,
                "lexicon": self.lexicon.state_dict() if self.lexicon is not None else None,
                "word_lm": self.word_lm.state_dict() if self.word_lm is not None else None,
                "train_utterances": len(self.utterances), "skipped": len(self.skipped)}

    def build_model(self):
        m, d = self.config["model"], self.config["data"]
        return CTCRecognizer(n_mels=d["n_mels"], num_labels=len(self.vocab), cell=m["cell"],
                             hidden_size=m["hidden_size"], num_layers=m["num_layers"],
                             subsample=m["subsample"], conv_channels=m["conv_channels"],
                             dropout=m["dropout"], backend=m["backend"],
                             weight_drop=m["weight_drop"], bidirectional=m["bidirectional"])

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.utterances) / self.config["train"]["batch_size"])

    def train_batches(self, epoch: int, generator):
        """Length-bucketed batches in a random order; each a plan, see the module docstring."""
        d = self.config["data"]
        batch_size = self.config["train"]["batch_size"]
        lengths = torch.tensor([len(u.audio) for u in self.utterances], dtype=torch.float64)
        # Sorting by a jittered length varies batch membership between epochs but keeps the
        # lengths inside a batch close, so little compute goes to padding.
        jitter = 1.0 + 0.1 * torch.rand(len(lengths), generator=generator, dtype=torch.float64)
        order = torch.argsort(lengths * jitter)
        batches = list(torch.split(order, batch_size))
        speeds = torch.tensor(d["speed_perturb"] or [1.0], dtype=torch.float32)
        for i in torch.randperm(len(batches), generator=generator).tolist():
            index = batches[i]
            speed = speeds[torch.randint(len(speeds), (len(index),), generator=generator)]
            seed = torch.randint(0, 2**31 - 1, (1,), generator=generator)
            yield {"index": index, "speed": speed, "seed": seed}

    def training_step(self, model, batch, hidden) -> StepOutput:
        d = self.config["data"]
        device = batch["index"].device
        index = batch["index"].tolist()
        generator = torch.Generator().manual_seed(int(batch["seed"]))
        waves = [torch.from_numpy(self.utterances[i].waveform()).to(device) for i in index]
        waves = [speed_perturb(w, float(s)) for w, s in zip(waves, batch["speed"].tolist())]
        feats, frames = self._features(waves, device)
        if d["spec_augment"]:
            feats = spec_augment(feats, frames, generator, d["freq_masks"], d["freq_width"],
                                 d["time_masks"], d["time_fraction"], d["time_width"])
        targets = [torch.tensor(self.vocab.encode(self.utterances[i].text)) for i in index]
        loss = self._ctc_loss(model, feats, frames, targets)
        return StepOutput(loss, None, items=int(frames.sum()))

    def validate(self, model) -> dict:
        if not self.valid:
            return {}
        device = next(model.parameters()).device
        loss_sum, count = 0.0, 0
        words, chars = ErrorRate(), ErrorRate()
        for batch in self._eval_batches(self.valid):
            waves = [torch.from_numpy(u.waveform()).to(device) for u in batch]
            feats, frames = self._features(waves, device)
            targets = [torch.tensor(self.vocab.encode(u.text)) for u in batch]
            log_probs, out_frames = model(feats, frames)
            loss_sum += float(self._ctc(log_probs, out_frames, targets)) * len(batch)
            count += len(batch)
            lp = log_probs.transpose(0, 1).cpu().numpy()                # (B, T', V)
            for u, matrix, n in zip(batch, lp, out_frames.tolist()):
                hyp = self.vocab.decode(greedy_decode(matrix[:n]))
                words.add(u.text.split(), hyp.split())
                chars.add(u.text, hyp)
        return {"loss": loss_sum / max(count, 1), "wer": words.rate, "cer": chars.rate}

    def evaluate(self, model, data) -> dict:
        """WER/CER of the configured decoder on `data`, and the real-time factor (processing
        seconds per second of audio: features, network and decoding, not file reading)."""
        d = self.config["data"]
        corpus = load_corpus(data, d["min_seconds"], 0.0)
        if not corpus.utterances:
            raise UserError(f"{data}: no usable recordings ({len(corpus.skipped)} skipped)")
        unknown = set().union(*(self.vocab.unknown(u.text) for u in corpus.utterances))
        if unknown:
            print(f"speech: characters never seen in training: {''.join(sorted(unknown))!r} "
                  "(counted as errors)", file=sys.stderr)
        device = next(model.parameters()).device
        words, chars = ErrorRate(), ErrorRate()
        worst = []
        start = time.perf_counter()
        for batch in self._eval_batches(corpus.utterances):
            texts = self.recognise(model, [u.waveform() for u in batch], device)
            for u, (hyp, _) in zip(batch, texts):
                words.add(u.text.split(), hyp.split())
                before = chars.errors
                chars.add(u.text, hyp)
                worst.append(((chars.errors - before) / max(len(u.text), 1), u.path, u.text, hyp))
        elapsed = time.perf_counter() - start
        # The utterances the model gets most wrong are where mislabelled files show up.
        for cer, path, ref, hyp in sorted(worst, reverse=True)[:3]:
            if cer >= 0.5:
                print(f"speech: high error {path} (CER {cer:.2f}): {ref!r} -> {hyp!r}",
                      file=sys.stderr)
        return {"wer": round(words.rate, 6), "cer": round(chars.rate, 6),
                "rtf": round(elapsed / max(corpus.seconds, 1e-9), 6),
                "utterances": len(corpus.utterances), "skipped": len(corpus.skipped),
                "words": words.total, "seconds": round(corpus.seconds, 2),
                "decoder": self.decoder_name()}

    # -- inference -----------------------------------------------------------------------------

    def decoder_name(self) -> str:
        """'greedy', 'beam8+lm5' or 'beam8+lexicon+wlm3+lm5' (lexicon, word LM, char LM)."""
        d = self.config["data"]
        if d["beam"] <= 1:
            return "greedy"
        lexicon = ""
        if self.lexicon is not None:
            lexicon = "+lexicon"
            if self.word_lm is not None and _data_option(self.config, "word_weight") > 0:
                lexicon += f"+wlm{self.word_lm.order}"
        lm = f"+lm{self.lm.order}" if self.lm is not None and d["lm_weight"] > 0 else ""
        return f"beam{d['beam']}{lexicon}{lm}"

    def decode(self, log_probs: np.ndarray) -> list[int]:
        """Label ids of one utterance's (T', V) log-probabilities with the configured decoder."""
        d = self.config["data"]
        if d["beam"] <= 1:
            return greedy_decode(log_probs)
        use_lm = self.lm is not None and d["lm_weight"] > 0
        if self.lexicon is not None:
            return lexicon_beam_search(
                log_probs, [""] + self.vocab.chars, self.lexicon, self.word_lm, beam=d["beam"],
                word_weight=_data_option(self.config, "word_weight"),
                word_bonus=_data_option(self.config, "word_bonus"),
                char_lm=self.lm if use_lm else None, char_weight=d["lm_weight"],
                char_bonus=_data_option(self.config, "lexicon_lm_bonus") if use_lm else 0.0)
        return prefix_beam_search(log_probs, beam=d["beam"], lm=self.lm if use_lm else None,
                                  chars=[""] + self.vocab.chars, alpha=d["lm_weight"],
                                  beta=d["lm_bonus"] if use_lm else 0.0)

    def recognise(self, model, waves, device, with_times: bool = False):
        """Transcribe float32 16 kHz waveforms: [(text, words or None)] in input order."""
        tensors = [torch.from_numpy(np.asarray(w, dtype=np.float32)).to(device) for w in waves]
        feats, frames = self._features(tensors, device)
        with torch.no_grad():
            log_probs, out_frames = model(feats, frames)
        lp = log_probs.transpose(0, 1).float().cpu().numpy()             # (B, T', V)
        frame_seconds = HOP / 16000 * self.config["model"]["subsample"]
        results = []
        for matrix, n, wave in zip(lp, out_frames.tolist(), waves):
            ids = self.decode(matrix[:n])
            text = self.vocab.decode(ids)
            words = None
            if with_times:
                spans = forced_align(matrix[:n], ids) if ids else []
                words = word_times(text, spans, frame_seconds) if spans is not None else []
                duration = round(len(wave) / 16000, 3)   # the last 40 ms frame may overhang
                for word in words:
                    word["end"] = min(word["end"], duration)
                    word["start"] = min(word["start"], word["end"])
            results.append((" ".join(text.split()), words))
        return results

    # -- helpers -------------------------------------------------------------------------------

    def _features(self, waves, device):
        """Pad waveforms and compute normalised log-mels: (B, T, F), frames (B,)."""
        lengths = torch.tensor([len(w) for w in waves], device=device)
        padded = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)   # (B, N)
        with torch.autocast(device.type, enabled=False):
            return LogMel(self.config["data"]["n_mels"])(padded.float(), lengths)

    def _eval_batches(self, utterances):
        order = sorted(range(len(utterances)), key=lambda i: len(utterances[i].audio))
        size = self.config["train"]["batch_size"]
        for start in range(0, len(order), size):
            yield [utterances[i] for i in order[start:start + size]]

    @staticmethod
    def _ctc(log_probs, out_frames, targets):
        target_lengths = torch.tensor([len(t) for t in targets])
        flat = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
        # CTC in float32 on every device: fp16 log-probs lose the tail of the alignment sums.
        # Padding frames beyond out_frames are ignored through input_lengths.
        return torch.nn.functional.ctc_loss(
            log_probs.float(), flat.to(log_probs.device), out_frames, target_lengths.to(log_probs.device),
            blank=0, reduction="mean", zero_infinity=True)

    def _ctc_loss(self, model, feats, frames, targets):
        log_probs, out_frames = model(feats, frames)
        return self._ctc(log_probs, out_frames, targets)
