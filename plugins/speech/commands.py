"""The speech domain's own verbs: `synth` (build a corpus with TTS) and `transcribe`.

click only at module level; numpy, torch and torchaudio load inside the commands.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rnnsuite.core import UserError

__all__ = ["synth", "transcribe"]


def _split_list(values) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@click.command("synth")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Corpus folder to create (manifest.csv, test.csv, wav/).")
@click.option("--task", type=click.Choice(["alphanumeric", "sentences"]), default="alphanumeric",
              show_default=True, help="Built-in texts: telephone/voice-menu vocabulary or sentences.")
@click.option("--texts", "texts_file", type=click.Path(path_type=Path),
              help="Synthesise these lines (one utterance per line) instead of --task.")
@click.option("--n", "n", type=int, default=6000, show_default=True,
              help="Training utterances.")
@click.option("--test-n", type=int, help="Held-out-voice utterances (default: n/10, at least 20).")
@click.option("--voices", multiple=True, metavar="ENGINE:VOICE,...",
              help="Training voices, e.g. 'espeak:en-us+m3,flite:slt' ('*' = any accent/variant).")
@click.option("--test-voices", multiple=True, metavar="ENGINE:VOICE,...",
              help="Held-out voices for test.csv (never used in training).")
@click.option("--noise", type=float, default=0.3, show_default=True,
              help="Fraction of utterances with added noise (10-30 dB SNR; all get a faint noise floor).")
@click.option("--telephone", type=float, default=0.3, show_default=True,
              help="Fraction passed through an 8 kHz telephone channel.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jobs", type=int, default=0, help="Parallel synthesis jobs (default: CPU count).")
@click.option("--format", "fmt", type=click.Choice(["wav", "flac", "ogg"]), default="wav",
              show_default=True, help="Audio format of the corpus files.")
@click.option("--mbrola", is_flag=True,
              help="Also train on the MBROLA voices (espeak-ng mb-us1/us2/us3/en1, diphones of "
                   "real speakers) when installed: Debian contrib/non-free, non-commercial "
                   "licence; see plugins/speech/README.md.")
@click.option("--force", is_flag=True, help="Write into a folder that already holds a corpus.")
@click.option("--json", "as_json", is_flag=True, help="Print the corpus summary as JSON.")
def synth(out, task, texts_file, n, test_n, voices, test_voices, noise, telephone, seed, jobs,
          fmt, mbrola, force, as_json):
    """Build a labelled corpus with espeak-ng, flite and festival voices."""
    from rnnsuite.plugins.speech.synth import build_corpus

    if (out / "manifest.csv").exists() and not force:
        raise UserError(f"{out}: already holds a corpus (manifest.csv); use --force or another --out")
    for name, value in (("--noise", noise), ("--telephone", telephone)):
        if not 0.0 <= value <= 1.0:
            raise UserError(f"{name}: must be a fraction between 0 and 1, got {value}")
    tv = _split_list(test_voices)
    summary = build_corpus(out, n=n, task=task, texts_file=texts_file, voices=_split_list(voices),
                           test_voices=tv, test_n=test_n, noise=noise, telephone=telephone,
                           seed=seed, jobs=jobs, fmt=fmt, mbrola=mbrola)
    if as_json:
        click.echo(json.dumps(summary))
    test = (f" and {summary['test_utterances']} held-out-voice utterances to {out / 'test.csv'}"
            if summary["test_utterances"] else "")
    click.echo(f"Wrote {summary['train_utterances']} training utterances "
               f"({summary['train_seconds'] / 60:.1f} min) to {out / 'manifest.csv'}{test}"
               + (f"; {summary['failed']} failed" if summary["failed"] else ""), err=True)


def _with_decoder_options(command):
    from rnnsuite.plugins.speech.domain import decoder_options

    command.params.extend(decoder_options(click))
    return command


@_with_decoder_options
@click.command("transcribe")
@click.argument("run")
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document: text and word start/end times per file.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
def transcribe(run, audio, as_json, device, **decoding):
    """Transcribe AUDIO files (WAV, FLAC, OGG; any rate, mono or stereo) with RUN ('latest')."""
    from rnnsuite.core import load_run
    from rnnsuite.plugins.speech.audio import SAMPLE_RATE, AudioError, read_audio
    from rnnsuite.plugins.speech.domain import SpeechDomain

    options = {k: v for k, v in decoding.items() if v is not None}
    loaded = load_run(run, SpeechDomain(), device, data_options=options)
    start = time.perf_counter()
    waves, errors = {}, []
    for path in audio:
        try:
            waves[path] = read_audio(path)
        except AudioError as exc:
            errors.append({"path": str(path), "error": str(exc).split(": ", 1)[-1]})
    if not waves:
        more = f" (and {len(errors) - 1} more unreadable files)" if len(errors) > 1 else ""
        raise UserError(f"{errors[0]['path']}: {errors[0]['error']}{more}")
    for error in errors:
        print(f"skipped {error['path']}: {error['error']}", file=sys.stderr)
    batch_size = loaded.config["train"]["batch_size"]
    ordered = sorted(waves, key=lambda p: len(waves[p]))
    texts = {}
    for i in range(0, len(ordered), batch_size):
        chunk = ordered[i:i + batch_size]
        for path, result in zip(chunk, loaded.task.recognise(
                loaded.model, [waves[p] for p in chunk], loaded.device, with_times=as_json)):
            texts[path] = result
    elapsed = time.perf_counter() - start
    seconds = sum(len(w) for w in waves.values()) / SAMPLE_RATE
    if as_json:
        results = [{"path": str(p), "text": texts[p][0], "seconds": round(len(waves[p]) / SAMPLE_RATE, 3),
                    "words": texts[p][1]} for p in audio if p in texts]
        click.echo(json.dumps({"results": results, "errors": errors,
                               "decoder": loaded.task.decoder_name(),
                               "rtf": round(elapsed / max(seconds, 1e-9), 6)}))
        return
    for path in audio:
        if path in texts:
            click.echo(f"{path}\t{texts[path][0]}" if len(audio) > 1 else texts[path][0])
    print(f"{len(texts)} file(s), {seconds:.1f} s of audio in {elapsed:.2f} s "
          f"(real-time factor {elapsed / max(seconds, 1e-9):.3f})", file=sys.stderr)
