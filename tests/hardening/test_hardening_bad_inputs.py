"""The bad-input corpus (tests/data/bad/, made by make_bad.py): each malformed file, fed to the
command that reads it, ends with exit status 2 and exactly one `Error:` line that names the file
and the problem, with no traceback, and leaves every existing run folder as it was."""

import importlib.util
import shutil

import pytest
from hardening_helpers import BAD, EXAMPLES, error_lines, folder_digest, invoke

spec = importlib.util.spec_from_file_location("make_bad", BAD / "make_bad.py")
make_bad = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_bad)
CASES = make_bad.CASES

TEXT = "Double, double toil and trouble;\nFire burn and caldron bubble.\n" * 6
TINY = {
    "nlp": ["hidden_size=8", "embedding_dim=8", "batch_size=2", "bptt=8", "eval_streams=2"],
    "forecast": ["hidden_size=8"],
    "music": ["hidden_size=8", "embedding_dim=8", "batch_size=2", "bptt=16"],
    "speech": ["hidden_size=8", "num_layers=1", "conv_channels=8", "batch_size=4", "n_mels=16",
               "lm_order=3", "beam=2", "valid_fraction=0.0"],
}


def sets(domain):
    return [a for item in TINY[domain] for a in ("--set", item)] + ["--device", "cpu"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """One good input and one tiny trained run (1 step) per domain."""
    base = tmp_path_factory.mktemp("good")
    (base / "spell.txt").write_text(TEXT, encoding="utf-8")
    midi = base / "midi"
    midi.mkdir()
    for f in sorted((EXAMPLES / "midi").glob("*.mid"))[:4]:
        shutil.copy(f, midi / f.name)
    data = {"nlp": base / "spell.txt", "forecast": EXAMPLES / "sales.csv", "music": midi,
            "speech": EXAMPLES / "speech" / "manifest.csv"}
    for domain, path in data.items():
        result = invoke(domain, "train", path, "--out", base / domain, "--max-steps", 1, *sets(domain))
        assert result.exit_code == 0, result.output
    return base, data


def command(domain, verb, bad, run, data, tmp_path):
    if verb == "train":
        return [domain, "train", bad, "--out", run, "--resume"]
    if verb == "config":
        return [domain, "train", data, "--out", tmp_path / "new", "--config", bad, "--max-steps", 1]
    if verb == "evaluate":
        return [domain, "evaluate", run, bad, "--device", "cpu"]
    if verb == "predict":
        return ["forecast", "predict", bad, "--model", run, "--out", tmp_path / "forecast.csv"]
    if verb == "transcribe":
        return ["speech", "transcribe", run, bad, "--device", "cpu"]
    if verb == "run":
        return [domain, "evaluate", bad, data, "--device", "cpu"]
    raise AssertionError(verb)


def test_the_corpus_is_complete():
    assert len(CASES) >= 40
    kinds = {name.split("/")[0] for name in CASES}
    assert {"csv", "wav", "midi", "text", "config", "runs"} <= kinds
    missing = [name for name in CASES if not (BAD / name).exists()]
    assert not missing, "run python tests/data/bad/make_bad.py"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clean_error(good, tmp_path, name):
    base, data = good
    domain, verb, problem = CASES[name]
    bad = tmp_path / name  # a copy: the command may not touch the committed corpus either
    if (BAD / name).is_dir():
        shutil.copytree(BAD / name, bad)
    else:
        bad.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(BAD / name, bad)
        for sibling in (BAD / name).parent.glob("*.wav"):  # audio a manifest points to
            shutil.copy(sibling, bad.parent / sibling.name)
    run = tmp_path / "run"
    shutil.copytree(base / domain, run)
    before = folder_digest(run), folder_digest(bad.parent)
    result = invoke(*command(domain, verb, bad, run, data[domain], tmp_path))
    assert result.exit_code == 2, result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert str(bad) in lines[0], lines[0]
    assert problem in lines[0], lines[0]
    assert "Traceback" not in result.output and result.stdout == ""
    assert (folder_digest(run), folder_digest(bad.parent)) == before
    assert not (tmp_path / "new").exists() and not (tmp_path / "forecast.csv").exists()


def test_unsorted_dates_are_sorted_with_a_warning(capsys):
    from rnnsuite.plugins.forecast.data import load_csv

    data = load_csv(BAD / "warn" / "unsorted_dates.csv")
    assert "rows were not in time order" in capsys.readouterr().err
    times = list(data.series[0].time)
    assert times == sorted(times)


def test_decimal_commas_are_read_as_decimals_with_a_warning(capsys):
    """A semicolon CSV with decimal commas ("101,5") is read as 101.5, never as 1015."""
    from rnnsuite.plugins.forecast.data import load_csv

    data = load_csv(BAD / "warn" / "decimal_comma.csv")
    assert data.series[0].values[:3].tolist() == [101.5, 102.1, 103.15]
    err = capsys.readouterr().err
    assert err.count("Warning:") == 1 and "decimal comma" in err


def test_thousands_separators_stay_thousands(tmp_path):
    from rnnsuite.plugins.forecast.data import load_csv

    path = tmp_path / "thousands.csv"
    path.write_text("date,value\n" + "".join(f'2020-{m:02d}-01,"1,{m:03d}.5"\n' for m in range(1, 13)))
    assert load_csv(path).series[0].values[:2].tolist() == [1001.5, 1002.5]


def test_a_wav_shorter_than_its_header_is_read_with_a_warning(capsys):
    from rnnsuite.plugins.speech.audio import read_audio

    audio = read_audio(BAD / "warn" / "shorter_than_header.wav")
    assert len(audio) == 4000
    err = capsys.readouterr().err
    assert "the header declares 8000 samples, the file holds 4000" in err and err.count("\n") == 1


def test_a_text_short_for_the_default_batch_trains_with_a_warning(tmp_path):
    result = invoke("nlp", "train", BAD / "warn" / "short_text.txt", "--out", tmp_path / "run",
                    "--max-steps", "2", "--set", "hidden_size=8")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1 and "too few for batch_size" in warnings[0]


def test_a_corrupt_midi_file_in_a_folder_is_skipped_with_a_warning(capsys):
    from rnnsuite.plugins.music.data import Settings, load_corpus

    pieces, skipped = load_corpus(BAD / "warn" / "midi_folder", Settings(), use_cache=False)
    assert [p.name for p in pieces] == ["good.mid"]
    assert len(skipped) == 1 and "corrupt.mid" in skipped[0]
    assert "Warning: skipped" in capsys.readouterr().err
