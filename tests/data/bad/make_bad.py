"""Write the malformed inputs of tests/data/bad/ (run: `python tests/data/bad/make_bad.py`).

Every file here is small and made by this script, so the corpus is reproducible. CASES says,
for each one, which command it is fed to and what the one `Error:` line must say about it; the
test (tests/hardening/test_hardening_bad_inputs.py) reads CASES from this module.

Verbs (the run folders are tiny runs the test trains first, copied per case):
    train        <domain> train FILE --out RUN --resume   (RUN: an existing run; must not change)
    config       nlp train TEXT --out NEW --config FILE     (NEW must not be created)
    evaluate     <domain> evaluate RUN FILE
    predict      forecast predict FILE --model RUN
    transcribe   speech transcribe RUN FILE
    run          nlp evaluate FOLDER TEXT                   (a malformed run folder)
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

PNG = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
       + struct.pack(">I", zlib.crc32(b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))))

# name: (domain, verb, what the error line must contain besides the file's name)
CASES = {
    # -- CSV (forecast) ----------------------------------------------------------------------
    "csv/empty.csv": ("forecast", "train", "empty"),
    "csv/header_only.csv": ("forecast", "evaluate", "no data rows"),
    "csv/png_bytes.csv": ("forecast", "predict", ""),
    "csv/non_numeric.csv": ("forecast", "train", "'twelve' is not a number"),
    "csv/duplicate_dates.csv": ("forecast", "train", "duplicate time stamp"),
    "csv/missing_date.csv": ("forecast", "predict", "missing date"),
    "csv/bad_date.csv": ("forecast", "train", "as a date"),
    "csv/unterminated_quote.csv": ("forecast", "train", ""),
    "csv/single_row.csv": ("forecast", "predict", "single date"),
    "csv/all_values_missing.csv": ("forecast", "train", "no values"),
    "csv/duplicate_columns.csv": ("forecast", "train", "duplicate column"),
    "csv/fractional_steps.csv": ("forecast", "train", "fractional"),
    "csv/nul_bytes.csv": ("forecast", "train", ""),
    "csv/unsorted_and_duplicate.csv": ("forecast", "evaluate", "duplicate time stamp"),
    "csv/infinite_value.csv": ("forecast", "train", "'inf' is not a finite number"),
    # parses, but daily rows then monthly rows: not one frequency (issue 20)
    "csv/frequency_changes.csv": ("forecast", "train", "not one frequency; resample with --freq"),
    # quoted numbers with decimal commas and points mixed: no guess (issue 20)
    "csv/mixed_decimal_marks.csv": ("forecast", "train", "mixes decimal commas and decimal points"),
    # -- WAV (speech) ------------------------------------------------------------------------
    "wav/empty.wav": ("speech", "transcribe", "cannot read audio"),
    "wav/zero_length.wav": ("speech", "transcribe", "empty"),
    "wav/truncated_header.wav": ("speech", "transcribe", "cannot read audio"),
    "wav/text.wav": ("speech", "transcribe", "cannot read audio"),
    "wav/png_bytes.wav": ("speech", "transcribe", "cannot read audio"),
    "wav/riff_only.wav": ("speech", "transcribe", "cannot read audio"),
    "wav/nan_samples.wav": ("speech", "transcribe", "NaN"),
    # -- speech manifests --------------------------------------------------------------------
    "manifest/empty.csv": ("speech", "train", "manifest is empty"),
    "manifest/no_text_column.csv": ("speech", "train", "no 'text' column"),
    "manifest/header_only.csv": ("speech", "evaluate", "no recordings"),
    "manifest/latin1.csv": ("speech", "train", "not a UTF-8"),
    "manifest/missing_audio.csv": ("speech", "evaluate", ""),
    "manifest/zero_length_audio.csv": ("speech", "train", ""),
    # parses, audio fine, but the transcripts are Cyrillic: no words silently dropped (issue 20)
    "manifest/other_script.csv": ("speech", "train", "transcripts are in another script (cyrillic)"),
    # -- MIDI (music) ------------------------------------------------------------------------
    "midi/empty.mid": ("music", "train", "not a valid MIDI file"),
    "midi/truncated.mid": ("music", "train", "not a valid MIDI file"),
    "midi/text.mid": ("music", "evaluate", "not a valid MIDI file"),
    "midi/no_notes.mid": ("music", "train", "no notes"),
    "midi/no_track.mid": ("music", "train", "no MTrk"),
    "midi/running_status_without_status.mid": ("music", "train", "without a status byte"),
    "midi/wav_bytes.mid": ("music", "evaluate", "not a valid MIDI file"),
    "midi/drums_only.mid": ("music", "train", "no notes"),
    "midi/zero_ticks_per_beat.mid": ("music", "train", "ticks per beat"),
    # quarter notes of 96 ticks in a file that declares 1 tick per beat: 96-beat notes
    "midi/one_tick_per_beat.mid": ("music", "train", "implausible ticks per beat"),
    # parse fine but are not playable as written (issue 20): a tempo of 1 microsecond per beat,
    # and a type-2 file (independent sequences) that merging would play all at once
    "midi/absurd_tempo.mid": ("music", "train", "implausible tempo"),
    "midi/type_2.mid": ("music", "train", "type 2"),
    # -- text (nlp) ----------------------------------------------------------------------------
    "text/empty.txt": ("nlp", "train", "empty"),
    "text/whitespace_only.txt": ("nlp", "evaluate", "empty"),
    "text/nul_bytes.txt": ("nlp", "train", "NUL byte"),
    "text/latin1.txt": ("nlp", "train", "not valid utf-8"),
    "text/utf16.txt": ("nlp", "evaluate", ""),
    "text/png_bytes.txt": ("nlp", "train", ""),
    # -- TOML config -----------------------------------------------------------------------------
    "config/syntax_error.toml": ("nlp", "config", "not a valid TOML file"),
    "config/unknown_key.toml": ("nlp", "config", "unknown config key train.epoch"),
    "config/unknown_section.toml": ("nlp", "config", "unknown config section"),
    "config/wrong_type.toml": ("nlp", "config", "model.hidden_size must be int"),
    "config/bool_for_int.toml": ("nlp", "config", "train.epochs must be int"),
    "config/section_not_a_table.toml": ("nlp", "config", ""),
    "config/latin1.toml": ("nlp", "config", "not a valid TOML file"),
    "config/duplicate_key.toml": ("nlp", "config", "not a valid TOML file"),
    "config/png_bytes.toml": ("nlp", "config", "not a valid TOML file"),
    "config/unknown_cell.toml": ("nlp", "config", "unknown cell"),
    # -- run folders (nlp) -------------------------------------------------------------------------
    "runs/empty_folder": ("nlp", "run", "no config.json"),
    "runs/config_not_json": ("nlp", "run", "corrupt config.json"),
    "runs/config_a_list": ("nlp", "run", "not an rnnsuite run config"),
    "runs/other_domain": ("nlp", "run", "belongs to domain 'music'"),
    "runs/no_weights": ("nlp", "run", "no trained weights"),
    "runs/empty_weights": ("nlp", "run", "model.safetensors"),
    "runs/truncated_weights": ("nlp", "run", "model.safetensors"),
    "runs/weights_of_another_model": ("nlp", "run", "do not match"),
    "runs/config_wrong_types": ("nlp", "run", "config.json"),
    "runs/task_state_missing": ("nlp", "run", "config.json"),
    "runs/a_file_not_a_folder": ("nlp", "run", "not a run folder"),
}


def write(name: str, data: bytes | str) -> Path:
    path = HERE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def wav_bytes(frames: bytes, channels=1, rate=16000, bits=16, fmt_tag=1) -> bytes:
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tone(seconds=0.5, rate=16000) -> bytes:
    n = int(seconds * rate)
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(n))


def smf(*tracks: bytes, tpb=96, fmt=0) -> bytes:
    head = b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), tpb)
    return head + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)


END = b"\x00\xff\x2f\x00"
TEMPO = b"\x00\xff\x51\x03\x07\xa1\x20"
NOTES = b"".join(b"\x00\x90" + bytes([p, 80]) + b"\x60\x80" + bytes([p, 0]) for p in (60, 62, 64, 65, 67))


def make_csv():
    dates = [f"2020-{m:02d}-01" for m in range(1, 13)]
    good = "date,value\n" + "".join(f"{d},{100 + i}\n" for i, d in enumerate(dates))
    write("csv/empty.csv", b"")
    write("csv/header_only.csv", "date,value\n")
    write("csv/png_bytes.csv", PNG)
    write("csv/non_numeric.csv", good.replace("2020-05-01,104", "2020-05-01,twelve"))
    write("csv/duplicate_dates.csv", good.replace("2020-06-01", "2020-05-01"))
    write("csv/missing_date.csv", good.replace("2020-07-01,", ","))
    write("csv/bad_date.csv", good.replace("2020-08-01", "2020-13-45"))
    write("csv/unterminated_quote.csv", good + '2021-01-01,"112\n2021-02-01,113\n')
    write("csv/single_row.csv", "date,value\n2020-01-01,5\n")
    write("csv/all_values_missing.csv", "date,value\n" + "".join(f"{d},\n" for d in dates))
    write("csv/duplicate_columns.csv", "date,value,value\n" + "".join(f"{d},1,2\n" for d in dates))
    write("csv/fractional_steps.csv", "t,value\n" + "".join(f"{i + 0.5},{i}\n" for i in range(12)))
    write("csv/nul_bytes.csv", good.encode()[:40] + b"\0\0\0\0" + good.encode()[40:])
    rows = good.splitlines()
    write("csv/unsorted_and_duplicate.csv", "\n".join([rows[0], *reversed(rows[1:]), rows[3]]) + "\n")
    write("csv/infinite_value.csv", good.replace("2020-09-01,108", "2020-09-01,inf"))
    write("csv/frequency_changes.csv", "date,value\n"
          + "".join(f"2020-01-{d:02d},{100 + d}\n" for d in range(1, 21))
          + "".join(f"2020-{m:02d}-01,{100 + m}\n" for m in range(2, 10)))
    # a warning, not an error: sorted and used (tested on its own)
    write("warn/unsorted_dates.csv", "\n".join([rows[0], *reversed(rows[1:])]) + "\n")
    # looks valid, parses: a European spreadsheet export (semicolons, decimal commas); read as
    # decimals with a warning, never as 35 for "3,5"
    write("warn/decimal_comma.csv", "date;value\n" + "".join(
        f"2020-{m:02d}-01;{100 + m},{m * 5}\n" for m in range(1, 13)))
    # a comma CSV whose quoted numbers mix decimal commas and points: an error, not a guess
    write("csv/mixed_decimal_marks.csv", "date,value\n" + "".join(
        f'2020-{m:02d}-01,"{100 + m}{"," if m % 2 else "."}5"\n' for m in range(1, 13)))


def make_wav():
    write("wav/empty.wav", b"")
    write("wav/zero_length.wav", wav_bytes(b""))
    write("wav/truncated_header.wav", wav_bytes(tone(0.1))[:30])
    write("wav/text.wav", "this is not audio, just words in a file called .wav\n")
    write("wav/png_bytes.wav", PNG)
    write("wav/riff_only.wav", b"RIFF")
    nan = struct.pack("<f", float("nan"))
    write("wav/nan_samples.wav", wav_bytes(struct.pack("<f", 0.1) * 800 + nan * 800, bits=32, fmt_tag=3))
    # a warning, not an error: the header declares 8000 samples, 4000 are there (issue 20)
    write("warn/shorter_than_header.wav", wav_bytes(tone(0.5))[:44 + 8000])


def make_manifests():
    write("manifest/empty.csv", b"")
    write("manifest/no_text_column.csv", "path,speaker\nclip.wav,a\n")
    write("manifest/header_only.csv", "path,text\n")
    write("manifest/latin1.csv", "path,text\nclip.wav,caf\xe9 cr\xe8me\n".encode("latin-1"))
    write("manifest/missing_audio.csv", "path,text\nnot_here_1.wav,hello\nnot_here_2.wav,world\n")
    write("manifest/zero_length.wav", wav_bytes(b""))
    write("manifest/zero_length_audio.csv", "path,text\nzero_length.wav,nothing at all\n")
    write("manifest/tone.wav", wav_bytes(tone(1.0)))
    write("manifest/other_script.csv", "path,text\ntone.wav,привет мир\ntone.wav,добрый день\n")


def make_midi():
    write("midi/empty.mid", b"")
    write("midi/truncated.mid", smf(TEMPO + NOTES + END)[:40])
    write("midi/text.mid", "MIDI? no: just text with a .mid name\n")
    write("midi/absurd_tempo.mid", smf(b"\x00\xff\x51\x03\x00\x00\x01" + NOTES + END))
    write("midi/type_2.mid", smf(TEMPO + NOTES + END, TEMPO + NOTES + END, fmt=2))
    write("midi/no_notes.mid", smf(TEMPO + b"\x00\xff\x03\x05empty" + END))
    write("midi/no_track.mid", b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96))
    write("midi/running_status_without_status.mid", smf(b"\x00\x3c\x40" + END))
    write("midi/wav_bytes.mid", wav_bytes(tone(0.05)))
    drums = b"".join(b"\x00\x99" + bytes([36, 100]) + b"\x30\x89" + bytes([36, 0]) for _ in range(8))
    write("midi/drums_only.mid", smf(TEMPO + drums + END))
    write("midi/zero_ticks_per_beat.mid", smf(TEMPO + NOTES + END, tpb=0))
    write("midi/one_tick_per_beat.mid", smf(TEMPO + NOTES + END, tpb=1))
    # a good file, and a folder with one good and one bad file: the bad one is skipped with a warning
    write("warn/midi_folder/good.mid", smf(TEMPO + NOTES * 4 + END))
    write("warn/midi_folder/corrupt.mid", smf(TEMPO + NOTES + END)[:40])


def make_text():
    write("text/empty.txt", b"")
    write("text/whitespace_only.txt", " \n\t\n   \n")
    write("text/nul_bytes.txt", b"Fair is foul, and foul is fair\0\0\0Hover through the fog\n")
    write("text/latin1.txt", "Th\xe9 witches' caf\xe9 sc\xe8ne\n".encode("latin-1"))
    write("text/utf16.txt", "Fair is foul, and foul is fair\n".encode("utf-16"))
    write("text/png_bytes.txt", PNG)
    # a warning, not an error: too short for the default batch, trains with a smaller one (issue 20)
    write("warn/short_text.txt", "When shall we three meet again\nIn thunder, lightning, or in rain?\n" * 6)


def make_config():
    write("config/syntax_error.toml", "[train\nepochs = 3\n")
    write("config/unknown_key.toml", "[train]\nepoch = 3\n")
    write("config/unknown_section.toml", "[optimizer]\nlr = 0.1\n")
    write("config/wrong_type.toml", '[model]\nhidden_size = "big"\n')
    write("config/bool_for_int.toml", "[train]\nepochs = true\n")
    write("config/section_not_a_table.toml", "model = 3\n")
    write("config/latin1.toml", '[data]\nencoding = "caf\xe9"\n'.encode("latin-1"))
    write("config/duplicate_key.toml", "[train]\nepochs = 3\nepochs = 4\n")
    write("config/png_bytes.toml", PNG)
    write("config/unknown_cell.toml", '[model]\ncell = "transformer"\n')


def make_runs():
    """Run folders derived from one tiny real nlp run (trained here, 1 step on CPU)."""
    import tempfile

    import torch
    from rnnsuite.core.checkpoint import save_weights
    from rnnsuite.core.config import apply_overrides, default_config
    from rnnsuite.core.plugins import get_domains
    from rnnsuite.core.run_lifecycle import train_run

    base = HERE / "runs"
    if base.exists():
        shutil.rmtree(base)
    torch.set_num_threads(1)
    nlp = get_domains()["nlp"]
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "spell.txt"
        text.write_text("Double, double toil and trouble;\nFire burn and caldron bubble.\n" * 6)
        cfg = apply_overrides(default_config(nlp), ["hidden_size=8", "embedding_dim=8", "batch_size=2", "bptt=8",
                                                    "eval_streams=2", "max_steps=1", "device=cpu", "seed=0"])
        train_run(nlp, cfg, data=text, out=Path(tmp) / "run", show_progress=False)
        config = json.loads((Path(tmp) / "run" / "config.json").read_text())
        weights = (Path(tmp) / "run" / "model.safetensors").read_bytes()
    config.update(created="2026-01-01T00:00:00+00:00", data="spell.txt", versions={})

    def run(name, config_obj=config, weights_bytes=weights):
        folder = base / name
        folder.mkdir(parents=True)
        if config_obj is not None:
            text = config_obj if isinstance(config_obj, (str, bytes)) else json.dumps(config_obj, indent=1)
            (folder / "config.json").write_bytes(text.encode() if isinstance(text, str) else text)
        if weights_bytes is not None:
            (folder / "model.safetensors").write_bytes(weights_bytes)
        return folder

    (base / "empty_folder").mkdir(parents=True)
    (base / "empty_folder" / ".keep").write_text("")  # git keeps no empty folders
    run("config_not_json", config_obj='{"domain": "nlp", "config": ')
    run("config_a_list", config_obj=json.dumps([config]))
    run("other_domain", config_obj={**config, "domain": "music"})
    run("no_weights", weights_bytes=None)
    run("empty_weights", weights_bytes=b"")
    run("truncated_weights", weights_bytes=weights[: len(weights) // 2])
    other = {k: torch.zeros(3, 3) for k in ("encoder.weight", "head.weight")}
    folder = run("weights_of_another_model", weights_bytes=None)
    save_weights(folder / "model.safetensors", other)
    run("config_wrong_types", config_obj={**config, "config": {**config["config"], "model": "lstm"}})
    run("task_state_missing", config_obj={k: v for k, v in config.items() if k != "task_state"})
    write("runs/a_file_not_a_folder", "I am a file\n")


def main():
    for folder in ("csv", "wav", "manifest", "midi", "text", "config", "warn"):
        if (HERE / folder).exists():
            shutil.rmtree(HERE / folder)
    make_csv()
    make_wav()
    make_manifests()
    make_midi()
    make_text()
    make_config()
    make_runs()
    missing = [name for name in CASES if not (HERE / name).exists()]
    if missing:
        sys.exit(f"not written: {missing}")
    print(f"{len(CASES)} malformed inputs in {HERE}")


if __name__ == "__main__":
    main()
