"""The speech Task: what core's trainer needs to train and evaluate a CTC recogniser.

Each recording's log-mel features are computed once, when the corpus is loaded, and kept in
memory (float16): a training step is then network time only. Batches are *plans* (utterance
indices, tempo and vocal-tract factors, an augmentation seed), cheap to produce and to skip on
exact resume; the augmentation runs on the cached features in `training_step`:

    plan {index (B,), tempo (B,), warp (B,), masks (1,), seed (1,)}
      -> cached log-mels (T_i, F) -> tempo (stretch_time) -> vocal tract (warp_frequency)
      -> pad (B, T, F) -> SpecAugment (from the second epoch) -> CTCRecognizer
      -> log_probs (T', B, V) -> CTC loss, summed over each transcript's pronunciations

Output units are phones (CMUdict, pronounce.py; words are found by the lexicon decoder) or
characters (`units=chars`, for words no dictionary knows).
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
    spelled,
    word_times,
)
from rnnsuite.plugins.speech.feature_store import FeatureStore
from rnnsuite.plugins.speech.features import (
    HOP,
    LogMel,
    spec_augment,
    stretch_time,
    warp_frequency,
)
from rnnsuite.plugins.speech.metrics import ErrorRate
from rnnsuite.plugins.speech.model import CTCRecognizer, subsampled_lengths
from rnnsuite.plugins.speech.text import Vocabulary, normalize

__all__ = ["SpeechTask"]

UNITS = ("phones", "chars")
SILENCE_KEPT = 15       # frames (150 ms) of silence kept around speech when cropping
VALID_BEAM = 2          # beam of the validation WER
LONG_SECONDS = 20.0      # recognise() splits longer recordings at their pauses ...
PART_SECONDS = 12.0      # ... into parts of at most this long


def _min_ctc_frames(labels) -> int:
    """Frames CTC needs for `labels`: one per label plus a blank between repeated labels."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


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


def _is_valid_split(name: str, fraction: float) -> bool:
    # A hash of the path as the manifest writes it, not a random draw: the split is the same on
    # resume and on reruns, from any working directory.
    return (zlib.crc32(name.encode("utf-8")) % 10_000) < fraction * 10_000


class SpeechTask(Task):
    def __init__(self, config: dict, data: Path | None, state: dict | None):
        self.config = config   # kept by reference: `evaluate --beam` updates config["data"]
        d = config["data"]
        self.utterances, self.valid, self.skipped = [], [], []
        self.lexicon, self.word_lm, self.lm = None, None, None
        if state:
            # runs saved before phone units kept their characters under "chars"
            self.vocab = Vocabulary(state.get("units") or state["chars"],
                                    state.get("unit_kind", "chars"))
            self.lm = CharNgramLM.from_state(state["lm"]) if state.get("lm") else None
            if state.get("lexicon"):
                self.lexicon = Lexicon.from_state(state["lexicon"])
                self.word_lm = (WordNgramLM.from_state(state["word_lm"])
                                if state.get("word_lm") else None)
        else:
            kind = d["units"]
            if kind not in UNITS:
                raise UserError(f"data.units must be one of {', '.join(UNITS)}, got {kind!r}")
        if data is None:
            if not state:
                raise UserError("speech: a run needs training data or a saved vocabulary")
            self._choose_lexicon(None)
            return
        start = time.perf_counter()
        store = FeatureStore(f"{d['n_mels']}|{d['f_max']}|{d['min_seconds']}|{d['max_seconds']}",
                             self._wave_features, use_cache=bool(d["cache"]))
        corpus = load_corpus(data, d["min_seconds"], d["max_seconds"], store=store)
        if not corpus.utterances:
            raise UserError(f"{data}: no usable recordings ({len(corpus.skipped)} skipped)")
        if not state:
            if d["units"] == "phones":
                from rnnsuite.plugins.speech.pronounce import PHONES

                self.vocab = Vocabulary(PHONES, "phones")
            else:
                self.vocab = Vocabulary.from_texts(u.text for u in corpus.utterances)
        usable, problems = self._with_targets(corpus.utterances)
        report_skipped(problems)
        self.skipped = corpus.skipped + problems
        if not usable:
            raise UserError(f"{data}: no usable recordings ({len(self.skipped)} skipped)")
        fraction = d["valid_fraction"]
        valid = [pair for pair in usable if _is_valid_split(pair[0].name, fraction)]
        train = [pair for pair in usable if not _is_valid_split(pair[0].name, fraction)]
        if not train:  # tiny corpora: train on everything
            train, valid = usable, []
        self.utterances = [u for u, _ in train]
        self.targets = [t for _, t in train]
        self.valid = [u for u, _ in valid]
        self.valid_targets = [t for _, t in valid]
        texts = [u.text for u in self.utterances]
        if not state and self.vocab.kind == "chars":
            order = d["lm_order"]
            self.lm = CharNgramLM.estimate(texts, order) if order > 0 else None
        if self.lexicon is None:   # a new run, or a resumed one trained before lexicons
            self._choose_lexicon(texts)
        self.features = [u.features for u in self.utterances]    # FeatureRefs: on disk
        self.valid_features = [u.features for u in self.valid]
        size_mb = sum(r.frames for r in self.features + self.valid_features) * d["n_mels"] * 2 / 2**20
        if size_mb <= d["feature_memory_mb"]:   # small enough: in memory, no reading per step
            self.features = [r.in_memory() for r in self.features]
            self.valid_features = [r.in_memory() for r in self.valid_features]
        hours = sum(u.seconds for u in self.utterances) / 3600
        print(f"speech: {len(self.utterances)} training utterances ({hours:.2f} h), "
              f"{len(self.valid)} validation, {len(self.skipped)} skipped; "
              f"{len(self.vocab) - 1} {self.vocab.kind}; read and features in "
              f"{time.perf_counter() - start:.0f} s ({store.hits} from the cache)", file=sys.stderr)

    def _with_targets(self, utterances):
        """([(utterance, its label sequences to train on)], problems [(path, reason)]).

        With phones, each transcript's pronunciations (up to 4 combinations); a word CMUdict
        does not know makes its utterance unusable. Each utterance must leave CTC room for its
        labels at the fastest tempo."""
        subsample = self.config["model"]["subsample"]
        fastest = max(self.config["data"]["tempo"] or [1.0])
        usable, problems = [], []
        if self.vocab.kind == "phones":
            from rnnsuite.plugins.speech.pronounce import missing_words, target_alternatives
        for u in utterances:
            if self.vocab.kind == "phones":
                missing = missing_words(u.text)
                if missing:
                    problems.append((u.path, f"no pronunciation for {', '.join(missing[:3])!r} "
                                     "(units=phones: CMUdict words only; --set units=chars "
                                     "spells any word)"))
                    continue
                targets = [self.vocab.encode(alt) for alt in target_alternatives(u.text)]
            else:
                targets = [self.vocab.encode(u.text)]
            frames = int(subsampled_lengths(torch.tensor(u.samples // HOP + 1), subsample))
            need = min(_min_ctc_frames(t) for t in targets)
            if need > int(frames / fastest):
                problems.append((u.path, f"transcript too long for the audio ({need} CTC "
                                 f"frames needed, {int(frames / fastest)} available): "
                                 "mislabelled?"))
            else:
                usable.append((u, targets))
        return usable, problems

    def _crop_bounds(self, i: int, crop) -> tuple[int, int]:
        """The frames [start, end) of utterance i left when a random share (`crop`: two
        fractions) of the silence before and after its speech is cut off, keeping at least
        SILENCE_KEPT frames: the model still hears pauses of every length, and a step spends
        less time on them. Known without reading the features."""
        ref = self.features[i]
        first, last = ref.span
        head = int(crop[0] * max(0, first - SILENCE_KEPT))
        tail = int(crop[1] * max(0, ref.frames - last - SILENCE_KEPT))
        return head, ref.frames - tail

    def _cropped(self, i: int, crop) -> torch.Tensor:
        """Utterance i's cached features, cropped (`_crop_bounds`)."""
        start, end = self._crop_bounds(i, crop)
        return self.features[i].load()[start:end]

    def _wave_features(self, wave: np.ndarray) -> torch.Tensor:
        """Normalised log-mels (T, F) in float16 of one 16 kHz waveform."""
        feats, frames = self._features([torch.from_numpy(wave)], torch.device("cpu"))
        return feats[0, :int(frames[0])].half()

    def _choose_lexicon(self, training_texts) -> None:
        """Set the lexicon and word LM from the `lexicon` option: 'off', 'on' (the run's own,
        built from `training_texts` when training) or a PATH whose transcripts give them."""
        choice = str(self.config["data"]["lexicon"])
        if choice == "off":
            if self.vocab.kind == "phones":
                raise UserError("lexicon=off: a phone recogniser finds words through its lexicon; "
                                "only a character model (units=chars) can spell without one")
            self.lexicon, self.word_lm = None, None
            return
        if choice == "on":
            if self.lexicon is not None or training_texts is None:
                if self.lexicon is None and self.config["data"]["beam"] > 1:
                    print("speech: this run has no lexicon (trained before lexicon decoding); "
                          "decoding without one. Pass --lexicon MANIFEST (e.g. the training "
                          "manifest) to build it from those transcripts.", file=sys.stderr)
                return
            texts = training_texts
        else:
            texts = _transcripts(choice)
        self.lexicon = Lexicon.from_texts(texts, self.vocab.kind)
        if self.vocab.kind == "phones":
            unknown = sorted({w for t in texts for w in t.split()} - set(self.lexicon.prons))
            if unknown:
                print(f"speech: {len(unknown)} lexicon words have no pronunciation and cannot "
                      f"be recognised: {', '.join(unknown[:5])}", file=sys.stderr)
        order = self.config["data"]["word_lm_order"]
        self.word_lm = WordNgramLM.estimate(texts, order) if order > 0 else None

    # -- contract ------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"units": self.vocab.units, "unit_kind": self.vocab.kind,
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
                             weight_drop=m["weight_drop"], bidirectional=m["bidirectional"],
                             frontend_norm=m["frontend_norm"])

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.utterances) / self.config["train"]["batch_size"])

    def train_batches(self, epoch: int, generator):
        """Batches of utterances of similar length, as plans (see the module docstring): the
        shortest first in the first epoch (short utterances teach CTC its alignments fastest),
        then in a random order. Each utterance's silence crop and tempo are drawn first, so that
        batches group the lengths the step will really see."""
        d = self.config["data"]
        n = len(self.features)
        tempos = torch.tensor(d["tempo"] or [1.0], dtype=torch.float32)
        tempo = tempos[torch.randint(len(tempos), (n,), generator=generator)]
        low, high = d["vtlp"] or [1.0, 1.0]
        warp = low + (high - low) * torch.rand(n, generator=generator)
        crop = torch.rand(n, 2, generator=generator)
        lengths = torch.tensor([end - start for start, end in (self._crop_bounds(i, c) for i, c in
                                                               enumerate(crop.tolist()))],
                               dtype=torch.float64) / tempo
        # Sorting by a jittered length varies batch membership between epochs but keeps the
        # lengths inside a batch close, so little compute goes to padding.
        jitter = 1.0 + 0.1 * torch.rand(n, generator=generator, dtype=torch.float64)
        batches = list(torch.split(torch.argsort(lengths * jitter),
                                   self.config["train"]["batch_size"]))
        order = torch.randperm(len(batches), generator=generator).tolist()
        if epoch == 0:
            order = list(range(len(batches)))
        masks = torch.tensor([bool(d["spec_augment"]) and epoch >= d["spec_augment_from"]])
        for i in order:
            index = batches[i]
            seed = torch.randint(0, 2**31 - 1, (1,), generator=generator)
            yield {"index": index, "tempo": tempo[index], "warp": warp[index], "crop": crop[index],
                   "masks": masks, "seed": seed}

    def training_step(self, model, batch, hidden) -> StepOutput:
        d = self.config["data"]
        device = batch["index"].device
        index = batch["index"].tolist()
        feats = [warp_frequency(stretch_time(self._cropped(i, crop).float(), tempo), warp)
                 for i, crop, tempo, warp in zip(index, batch["crop"].tolist(),
                                                 batch["tempo"].tolist(), batch["warp"].tolist())]
        frames = torch.tensor([len(f) for f in feats], device=device)
        x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)   # (B, T, F)
        if bool(batch["masks"]):
            generator = torch.Generator().manual_seed(int(batch["seed"]))
            x = spec_augment(x, frames, generator, d["freq_masks"], d["freq_width"],
                             d["time_masks"], d["time_fraction"], d["time_width"])
        log_probs, out_frames = model(x, frames)
        loss = self._ctc([self.targets[i] for i in index], log_probs, out_frames)
        return StepOutput(loss, None, items=int(frames.sum()))

    def validate(self, model) -> dict:
        """CTC loss, label error rate of greedy decoding (`per` for phones, `cer` for
        characters) and the WER of the run's decoder, on the validation split."""
        if not self.valid:
            return {}
        device = next(model.parameters()).device
        loss_sum = 0.0
        labels, words = ErrorRate(), ErrorRate()
        order = sorted(range(len(self.valid)), key=lambda i: len(self.valid_features[i]))
        size = self.config["train"]["batch_size"]
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            feats = [self.valid_features[i].load().float() for i in chunk]
            frames = torch.tensor([len(f) for f in feats], device=device)
            x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)
            log_probs, out_frames = model(x, frames)
            targets = [self.valid_targets[i] for i in chunk]
            loss_sum += float(self._ctc(targets, log_probs, out_frames)) * len(chunk)
            lp = log_probs.transpose(0, 1).float().cpu().numpy()          # (B, T', V)
            for i, alts, matrix, n in zip(chunk, targets, lp, out_frames.tolist()):
                hyp = greedy_decode(matrix[:n])
                labels.add(min(alts, key=lambda t: abs(len(t) - len(hyp))), hyp)
                # a narrow beam: the ranking of checkpoints, at a fraction of the decoding time
                words.add(self.valid[i].text.split(), self.decode(matrix[:n], beam=VALID_BEAM).words)
        unit_metric = "per" if self.vocab.kind == "phones" else "cer"
        return {"loss": loss_sum / len(self.valid), unit_metric: labels.rate, "wer": words.rate}

    def media(self, model) -> dict:
        """The first validation recording, with what the recogniser hears in it."""
        if not self.valid:
            return {}
        u = self.valid[0]
        device = next(model.parameters()).device
        text, _ = self.recognise(model, [u.waveform()], device)[0]
        return {"samples/audio": (u.waveform(), 16000),
                "samples/transcript": f"reference: {u.text}\n\nheard: {text}"}

    def export_graph(self, model):
        """The acoustic model over whole utterances: normalised log-mel features and their
        lengths in, per-frame log-probabilities of the units out; time and batch dynamic.
        Features (LogMel) and decoding (greedy or the lexicon beam search) stay outside."""
        from rnnsuite.core import ExportGraph

        if model.rnn.backend != "fused":
            raise UserError(f"speech export: cell {self.config['model']['cell']!r} has no fused "
                            "kernel, so its time loop cannot be exported; train with lstm or gru")
        n_mels = int(self.config["data"]["n_mels"])

        def example(lengths):
            frames = torch.tensor(lengths)
            feats = torch.randn(len(lengths), max(lengths), n_mels)
            feats *= (torch.arange(max(lengths))[None, :] < frames[:, None]).unsqueeze(2)
            return {"feats": feats, "frames": frames}

        units = ", ".join(["<blank>", *self.vocab.units[:3]]) + ", ..."
        doc = (f"feats: (B, T, {n_mels}) float32 log-mel features, 25 ms windows every 10 ms, "
               "normalised per utterance (rnnsuite.plugins.speech.features.LogMel), zero past each "
               "utterance's end; frames: (B,) int64 valid frames of each; log_probs: (T', B, V) "
               f"log-probabilities of the units per output frame (T' = T / {model.subsample}; unit 0 "
               f"is the CTC blank, then the run's units: {units}, listed in task_state); "
               "out_frames: (B,) valid output frames of each")
        return ExportGraph(model, example([120, 83]), ("log_probs", "out_frames"),
                           {"feats": {0: "batch", 1: "frames"}, "frames": {0: "batch"},
                            "log_probs": {0: "out_frames", 1: "batch"}, "out_frames": {0: "batch"}},
                           example([201, 150, 37]), doc)

    def evaluate(self, model, data) -> dict:
        """WER/CER of the configured decoder on `data`, per speaker (and per `group` when the
        manifest has that column), and the real-time factor (processing seconds per second of
        audio: features, network and decoding, not file reading)."""
        d = self.config["data"]
        corpus = load_corpus(data, d["min_seconds"], 0.0, keep_audio=False)   # read again per batch
        if not corpus.utterances:
            raise UserError(f"{data}: no usable recordings ({len(corpus.skipped)} skipped)")
        if self.vocab.kind == "chars":
            unknown = set().union(*(self.vocab.unknown(u.text) for u in corpus.utterances))
            if unknown:
                print(f"speech: characters never seen in training: {''.join(sorted(unknown))!r} "
                      "(counted as errors)", file=sys.stderr)
        elif self.lexicon is not None:
            unknown = sorted({w for u in corpus.utterances for w in u.text.split()}
                             - set(self.lexicon.prons))
            if unknown:
                print(f"speech: {len(unknown)} words are not in the lexicon and cannot be "
                      f"recognised (counted as errors): {', '.join(unknown[:8])}", file=sys.stderr)
        device = next(model.parameters()).device
        totals = {"words": ErrorRate(), "chars": ErrorRate()}
        groups: dict = {"by_speaker": {}, "by_group": {}}
        worst = []
        elapsed = 0.0
        for batch in self._eval_batches(corpus.utterances):
            waves = [u.waveform() for u in batch]   # read from the files (not timed)
            start = time.perf_counter()
            texts = self.recognise(model, waves, device)
            elapsed += time.perf_counter() - start
            for u, (hyp, _) in zip(batch, texts):
                rates = [totals["words"], totals["chars"]]
                for name, key in (("by_speaker", u.speaker), ("by_group", u.group)):
                    if key:
                        pair = groups[name].setdefault(key, (ErrorRate(), ErrorRate()))
                        rates += list(pair)
                before = totals["chars"].errors
                for i, rate in enumerate(rates):
                    rate.add(u.text.split(), hyp.split()) if i % 2 == 0 else rate.add(u.text, hyp)
                errors = totals["chars"].errors - before
                worst.append((errors / max(len(u.text), 1), u.path, u.text, hyp))
        # The utterances the model gets most wrong are where mislabelled files show up.
        for cer, path, ref, hyp in sorted(worst, reverse=True)[:3]:
            if cer >= 0.5:
                print(f"speech: high error {path} (CER {cer:.2f}): {ref!r} -> {hyp!r}",
                      file=sys.stderr)
        result = {"wer": round(totals["words"].rate, 6), "cer": round(totals["chars"].rate, 6),
                  "rtf": round(elapsed / max(corpus.seconds, 1e-9), 6),
                  "utterances": len(corpus.utterances), "skipped": len(corpus.skipped),
                  "words": totals["words"].total, "seconds": round(corpus.seconds, 2),
                  "decoder": self.decoder_name()}
        for name, table in groups.items():
            if table:
                result[name] = {key: {"wer": round(w.rate, 6), "cer": round(c.rate, 6),
                                      "words": w.total}
                                for key, (w, c) in sorted(table.items())}
        return result

    # -- inference -----------------------------------------------------------------------------

    def decoder_name(self) -> str:
        """'greedy', 'beam8+lm5', 'beam8+lexicon+wlm3' (lexicon and word LM) ..."""
        d = self.config["data"]
        if self.lexicon is None and d["beam"] <= 1:
            return "greedy"
        beam = max(1, d["beam"])
        if self.lexicon is not None:
            lm = ""
            if self.word_lm is not None and self.config["data"]["word_weight"] > 0:
                lm = f"+wlm{self.word_lm.order}"
            return f"beam{beam}+lexicon{lm}"
        lm = f"+lm{self.lm.order}" if self.lm is not None and d["lm_weight"] > 0 else ""
        return f"beam{beam}{lm}"

    def decode(self, log_probs: np.ndarray, beam: int | None = None):
        """The Hypothesis of one utterance's (T', V) log-probabilities with the configured
        decoder (`beam` overrides its width): the lexicon search when the run has a lexicon
        (phone runs always do), else greedy (beam 1) or prefix beam search with the character
        LM."""
        d = self.config["data"]
        beam = d["beam"] if beam is None else beam
        labels = self.vocab.labels
        if self.lexicon is not None:
            return lexicon_beam_search(
                log_probs, labels, self.lexicon, self.word_lm, beam=max(1, beam),
                word_weight=self.config["data"]["word_weight"],
                word_bonus=self.config["data"]["word_bonus"])
        if beam <= 1:
            return spelled(greedy_decode(log_probs), labels)
        use_lm = self.lm is not None and d["lm_weight"] > 0
        return spelled(prefix_beam_search(log_probs, beam=beam, lm=self.lm if use_lm else None,
                                          chars=labels, alpha=d["lm_weight"],
                                          beta=d["lm_bonus"] if use_lm else 0.0), labels)

    def recognise(self, model, waves, device, with_times: bool = False):
        """Transcribe float32 16 kHz waveforms: [(text, words or None)] in input order.

        A recording longer than LONG_SECONDS is split at its pauses (segment.py) into parts of
        at most PART_SECONDS; the parts' texts are joined and their word times put on the
        whole recording's time line."""
        from rnnsuite.plugins.speech.segment import speech_regions

        pieces, owners, offsets = [], [], []
        for i, wave in enumerate(waves):
            wave = np.asarray(wave, dtype=np.float32)
            regions = ([(0, len(wave))] if len(wave) <= LONG_SECONDS * 16000
                       else speech_regions(wave, max_seconds=PART_SECONDS))
            for start, end in regions:
                pieces.append(wave[start:end])
                owners.append(i)
                offsets.append(start / 16000)
        texts: list = [[] for _ in waves]
        words: list = [[] if with_times else None for _ in waves]
        size = self.config["train"]["batch_size"]
        order = sorted(range(len(pieces)), key=lambda k: len(pieces[k]))
        results = {}
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            for k, result in zip(chunk, self._recognise([pieces[k] for k in chunk], model,
                                                         device, with_times)):
                results[k] = result
        for k in range(len(pieces)):              # in time order within each recording
            text, times = results[k]
            if text:
                texts[owners[k]].append(text)
            if with_times:
                for w in times:
                    words[owners[k]].append({"word": w["word"],
                                             "start": round(w["start"] + offsets[k], 3),
                                             "end": round(w["end"] + offsets[k], 3)})
        return [(" ".join(t), w) for t, w in zip(texts, words)]

    def _recognise(self, waves, model, device, with_times: bool):
        """recognise() for recordings short enough to decode whole."""
        tensors = [torch.from_numpy(np.asarray(w, dtype=np.float32)).to(device) for w in waves]
        feats, frames = self._features(tensors, device)
        with torch.no_grad():
            log_probs, out_frames = model(feats, frames)
        lp = log_probs.transpose(0, 1).float().cpu().numpy()             # (B, T', V)
        frame_seconds = HOP / 16000 * self.config["model"]["subsample"]
        results = []
        for matrix, n, wave in zip(lp, out_frames.tolist(), waves):
            hyp = self.decode(matrix[:n])
            words = None
            if with_times:
                spans = forced_align(matrix[:n], hyp.labels) if hyp.labels else []
                words = word_times(hyp, spans, frame_seconds) if spans is not None else []
                duration = round(len(wave) / 16000, 3)   # the last output frame may overhang
                for word in words:
                    word["end"] = min(word["end"], duration)
                    word["start"] = min(word["start"], word["end"])
            results.append((hyp.text, words))
        return results

    # -- helpers -------------------------------------------------------------------------------

    def _features(self, waves, device):
        """Pad waveforms and compute normalised log-mels: (B, T, F), frames (B,)."""
        d = self.config["data"]
        lengths = torch.tensor([len(w) for w in waves], device=device)
        padded = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)   # (B, N)
        with torch.autocast(device.type, enabled=False):
            return LogMel(d["n_mels"], f_max=self.config["data"]["f_max"])(
                padded.float(), lengths)

    def _eval_batches(self, utterances):
        order = sorted(range(len(utterances)), key=lambda i: utterances[i].samples)
        size = self.config["train"]["batch_size"]
        for start in range(0, len(order), size):
            yield [utterances[i] for i in order[start:start + size]]

    @staticmethod
    def _ctc(alternatives, log_probs, out_frames):
        """Mean over the batch of -log sum over each utterance's label sequences (its
        pronunciations) of P(sequence | audio), per label of its first sequence, as torch's
        ctc_loss(reduction="mean") for one sequence each.

        alternatives: per utterance, a list of label-id lists; log_probs (T', B, V)."""
        rows, owner = [], []
        for b, alts in enumerate(alternatives):
            room = int(out_frames[b])
            fits = [a for a in alts if _min_ctc_frames(a) <= room] or alts[:1]
            rows += fits
            owner += [b] * len(fits)
        owner_t = torch.tensor(owner, device=log_probs.device)
        # CTC in float32 on every device: fp16 log-probs lose the tail of the alignment sums.
        # Padding frames beyond out_frames are ignored through input_lengths.
        losses = torch.nn.functional.ctc_loss(
            log_probs.float().index_select(1, owner_t),
            torch.tensor([x for r in rows for x in r], dtype=torch.long, device=log_probs.device),
            out_frames.index_select(0, owner_t),
            torch.tensor([len(r) for r in rows], device=log_probs.device),
            blank=0, reduction="none", zero_infinity=True)                   # (rows,)
        per_utterance = []
        for b, alts in enumerate(alternatives):
            mine = losses[owner_t == b]
            nll = -torch.logsumexp(-mine, 0) if len(mine) > 1 else mine[0]
            per_utterance.append(nll / max(1, len(alts[0])))
        return torch.stack(per_utterance).mean()
