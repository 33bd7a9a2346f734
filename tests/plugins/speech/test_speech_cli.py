"""End to end through the click CLI: synth -> train -> evaluate --json -> transcribe --json."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli
from speech_helpers import TINY, needs_tts, tone, two_minute_recording, write

SETS = [arg for item in TINY for arg in ("--set", item)]


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny run on the example sample, shared by the CLI tests (2 optimizer steps)."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[3] / "examples" / "speech"
    out = tmp_path_factory.mktemp("speech") / "run"
    result = invoke("speech", "train", examples / "manifest.csv", "--out", out, "--max-steps", 2,
                    "--device", "cpu", *SETS)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    """A tiny run with character units (open vocabulary: decodes with or without a lexicon)."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[3] / "examples" / "speech"
    out = tmp_path_factory.mktemp("speech") / "chars"
    result = invoke("speech", "train", examples / "manifest.csv", "--out", out, "--max-steps", 2,
                    "--device", "cpu", *SETS, "--set", "units=chars")
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_a_run_folder(trained_run, char_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["domain"] == "speech"
    state = config["task_state"]
    assert state["unit_kind"] == "phones" and "AH" in state["units"] and state["lm"] is None
    assert state["lexicon"]["prons"]["eleven"] == ["IH L EH V AH N", "IY L EH V AH N"]
    assert (trained_run / "model.safetensors").is_file()
    state = json.loads((char_run / "config.json").read_text())["task_state"]
    assert state["unit_kind"] == "chars" and state["units"][0] == " " and "a" in state["units"]
    assert state["lm"]["order"] == 3 and state["lexicon"]["prons"] is None


def test_evaluate_json_keys(trained_run, char_run, examples):
    result = invoke("speech", "evaluate", trained_run, examples / "manifest.csv", "--json",
                    "--device", "cpu", "--beam", 1)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"wer", "cer", "rtf", "utterances", "skipped", "by_speaker"} <= set(metrics)
    assert metrics["utterances"] == 10 and metrics["skipped"] == 0
    assert metrics["decoder"] == "beam1+lexicon+wlm3" and metrics["rtf"] > 0
    result = invoke("speech", "evaluate", char_run, examples / "manifest.csv", "--json",
                    "--device", "cpu", "--beam", 1, "--lexicon", "off")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decoder"] == "greedy"


def test_evaluate_reports_wer_per_speaker_and_group(trained_run, examples, tmp_path):
    # one voice said two files, the others one each: its WER must pool its words, not average
    rows = ["path,text,speaker,group", f"{examples / '01-16k-mono.flac'},my initials are l l w c s,ann,letters",
            f"{examples / '02-16k-mono.flac'},g x k v,ann,letters",
            f"{examples / '05-16k-mono.flac'},pound key,bob,keys"]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    result = invoke("speech", "evaluate", trained_run, tmp_path / "m.csv", "--json",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert set(metrics["by_speaker"]) == {"ann", "bob"} and set(metrics["by_group"]) == {"letters", "keys"}
    assert metrics["by_speaker"]["ann"]["words"] == 12 and metrics["by_speaker"]["bob"]["words"] == 2
    pooled = (metrics["by_speaker"]["ann"]["wer"] * 12 + metrics["by_speaker"]["bob"]["wer"] * 2) / 14
    assert pooled == pytest.approx(metrics["wer"], abs=1e-5)


def test_transcribe_json_has_word_times(trained_run, examples):
    files = sorted(examples.glob("0[1-3]*.flac"))
    result = invoke("speech", "transcribe", trained_run, *files, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["path"] for r in doc["results"]] == [str(f) for f in files]
    for r in doc["results"]:
        assert isinstance(r["text"], str) and r["seconds"] > 0
        for w in r["words"]:
            assert 0 <= w["start"] <= w["end"] <= r["seconds"] + 0.1


@needs_tts()
def test_transcribe_a_two_minute_recording(trained_run, tmp_path):
    path, _ = two_minute_recording(tmp_path)
    result = invoke("speech", "transcribe", trained_run, path, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["results"][0]
    assert doc["seconds"] >= 115
    starts = [w["start"] for w in doc["words"]]
    assert starts == sorted(starts) and all(w["end"] <= doc["seconds"] for w in doc["words"])


def test_run_stores_a_lexicon_and_decodes_only_its_words(trained_run, examples):
    state = json.loads((trained_run / "config.json").read_text())["task_state"]
    texts = [line.split(",")[1] for line in (examples / "manifest.csv").read_text().splitlines()[1:]]
    assert set(state["lexicon"]["counts"]) <= {w for t in texts for w in t.split()}
    assert state["word_lm"]["order"] == 3
    files = sorted(examples.glob("0[1-4]*.flac"))
    result = invoke("speech", "transcribe", trained_run, *files, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["decoder"] == "beam2+lexicon+wlm3"
    for r in doc["results"]:
        assert set(r["text"].split()) <= set(state["lexicon"]["counts"])


@pytest.mark.parametrize("run, choice, decoder", [
    ("chars", "off", "beam4+lm3"), ("chars", "__texts__", "beam4+lexicon+wlm3"),
    ("phones", "__texts__", "beam4+lexicon+wlm3")])
def test_evaluate_lexicon_option(run, choice, decoder, trained_run, char_run, examples, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("press one\npress two\n")
    choice = str(texts) if choice == "__texts__" else choice
    trained_run = char_run if run == "chars" else trained_run
    result = invoke("speech", "evaluate", trained_run, examples / "manifest.csv", "--json",
                    "--device", "cpu", "--beam", 4, "--lexicon", choice)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decoder"] == decoder
    if choice != "off":   # a lexicon from a text file: only its words can come out
        result = invoke("speech", "transcribe", trained_run, examples / "01-16k-mono.flac",
                        "--device", "cpu", "--lexicon", choice)
        assert result.exit_code == 0, result.output
        assert set(result.stdout.split()) <= {"press", "one", "two"}


def test_a_phone_model_cannot_decode_without_a_lexicon(trained_run, examples):
    result = invoke("speech", "transcribe", trained_run, examples / "01-16k-mono.flac",
                    "--lexicon", "off")
    assert result.exit_code == 2
    assert "units=chars" in result.stderr.strip().splitlines()[-1]


def test_lexicon_path_that_does_not_exist_is_an_error(trained_run, examples):
    result = invoke("speech", "transcribe", trained_run, examples / "01-16k-mono.flac",
                    "--lexicon", "nowhere.csv")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "nowhere.csv" in result.stderr


def test_manifest_of_mixed_rates_and_channels(trained_run, examples, tmp_path):
    """WAVs at 8, 16, 22.05 and 44.1 kHz, mono and stereo, all evaluate and transcribe."""
    import soundfile

    base, rate = soundfile.read(str(examples / "03-16k-mono.flac"), dtype="float32")
    import soxr

    rows = []
    for target in (8000, 16000, 22050, 44100):
        for channels in (1, 2):
            x = soxr.resample(base, rate, target)
            if channels == 2:
                x = np.stack([x, 0.5 * x], axis=1)
            name = f"{target}-{channels}.wav"
            soundfile.write(str(tmp_path / name), x, target)
            rows.append(f"{name},twenty eighth in line")
    (tmp_path / "m.csv").write_text("path,text\n" + "\n".join(rows) + "\n")
    result = invoke("speech", "evaluate", trained_run, tmp_path / "m.csv", "--json", "--device",
                    "cpu")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["utterances"] == 8
    result = invoke("speech", "transcribe", trained_run, *sorted(tmp_path.glob("*.wav")),
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 8


def test_broken_empty_and_mislabelled_files_are_skipped_and_counted(trained_run, examples,
                                                                    tmp_path):
    shutil.copy(examples / "05-16k-mono.flac", tmp_path / "good.flac")
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    write(tmp_path / "short.wav", tone(0.3), 16000)
    rows = ["good.flac,pound key", "broken.wav,yes", "silent.wav,no", "empty.wav,stop",
            "missing.wav,help", "good.flac,", "short.wav," + "far too many words " * 5]
    (tmp_path / "m.csv").write_text("path,text\n" + "\n".join(rows) + "\n")
    result = invoke("speech", "evaluate", trained_run, tmp_path / "m.csv", "--json", "--device",
                    "cpu")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["utterances"] == 1 and metrics["skipped"] == 6
    assert "skipped" in result.stderr and "broken.wav" in result.stderr
    # training on the same manifest also skips them instead of failing
    result = invoke("speech", "train", tmp_path / "m.csv", "--out", tmp_path / "run",
                    "--max-steps", 1, "--device", "cpu", *SETS)
    assert result.exit_code == 0, result.output


def test_transcribe_reports_bad_files_and_fails_only_when_all_are_bad(trained_run, examples,
                                                                      tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"nope")
    result = invoke("speech", "transcribe", trained_run, tmp_path / "broken.wav",
                    examples / "05-16k-mono.flac", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["results"]) == 1 and doc["errors"][0]["path"].endswith("broken.wav")
    result = invoke("speech", "transcribe", trained_run, tmp_path / "broken.wav")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "broken.wav" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "missing.csv"], "missing.csv"),
    (["train", "__bad_manifest__"], "no 'text' column"),
    (["evaluate", "__run__", "missing.csv"], "missing.csv"),
    (["transcribe", "no-such-run", "x.wav"], "no-such-run"),
])
def test_bad_input_exits_2_with_one_error_line(args, message, trained_run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,words\nx.wav,hi\n")
    args = [str(bad) if a == "__bad_manifest__" else str(trained_run) if a == "__run__" else a
            for a in args]
    result = invoke("speech", *args, "--device", "cpu") if args[0] != "transcribe" else \
        invoke("speech", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and message in lines[-1]


@needs_tts()
def test_synth_builds_a_corpus_that_trains(tmp_path):
    out = tmp_path / "corpus"
    result = invoke("speech", "synth", "--out", out, "--n", 6, "--test-n", 2, "--jobs", 2,
                    "--voices", "espeak:en-us+m3,espeak:*+f2", "--test-voices", "espeak:en-gb+m7",
                    "--telephone", 0.5, "--noise", 0.5, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["train_utterances"] == 6 and summary["test_utterances"] == 2
    manifest = (out / "manifest.csv").read_text().splitlines()
    assert manifest[0].startswith("path,text,speaker") and len(manifest) == 7
    assert "espeak:en-gb+m7" not in (out / "manifest.csv").read_text()
    assert "espeak:en-gb+m7" in (out / "test.csv").read_text()
    again = invoke("speech", "synth", "--out", out, "--n", 1)
    assert again.exit_code == 2 and "already holds a corpus" in again.stderr
    result = invoke("speech", "train", out / "manifest.csv", "--out", tmp_path / "run",
                    "--max-steps", 1, "--device", "cpu", *SETS)
    assert result.exit_code == 0, result.output
    result = invoke("speech", "evaluate", tmp_path / "run", out / "test.csv", "--json",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["utterances"] == 2


def test_resume_continues_a_run_with_another_cell(examples, tmp_path):
    out = tmp_path / "run"
    first = invoke("speech", "train", examples / "manifest.csv", "--out", out, "--cell", "gru",
                   "--max-steps", 1, "--device", "cpu", *SETS)
    assert first.exit_code == 0, first.output
    again = invoke("speech", "train", examples / "manifest.csv", "--out", out, "--resume",
                   "--max-steps", 2, "--device", "cpu")
    assert again.exit_code == 0, again.output
    assert "Done: 2 steps" in again.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["model"]["cell"] == "gru"
