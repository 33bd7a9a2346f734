"""`rnnsuite nlp train / evaluate / generate` end to end, through click's CliRunner."""

import json

import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli

KEYS = {"nats_per_token", "perplexity", "bits_per_char", "tokens", "characters"}


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_module):
    """One tiny run shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("trained")
    tiny, sample_text = tiny_module
    text_file = folder / "macbeth.txt"
    text_file.write_text(sample_text, encoding="utf-8")
    out = folder / "run"
    r = run("nlp", "train", text_file, "--out", out, "--max-steps", 3, *tiny())
    assert r.exit_code == 0, r.output
    return out


def test_train_writes_a_run_folder_with_the_vocabulary(trained, sample_text):
    config = json.loads((trained / "config.json").read_text())
    assert config["domain"] == "nlp"
    itos = config["task_state"]["tokenizer"]["itos"]  # fitted on the training split only
    assert set(itos) <= set(sample_text) and {"M", "a", "\n", ":"} <= set(itos)
    assert (trained / "model.safetensors").is_file()
    assert "valid,bits_per_char" in (trained / "metrics.csv").read_text()


def test_evaluate_json_keys_and_counts(trained, text_file, sample_text):
    r = run("nlp", "evaluate", trained, text_file, "--json")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    assert set(metrics) == KEYS
    assert metrics["tokens"] == metrics["characters"] == len(sample_text)
    assert metrics["perplexity"] == pytest.approx(2.718281828 ** metrics["nats_per_token"])


def test_generate_same_seed_same_text(trained):
    a = run("nlp", "generate", trained, "--prompt", "MACBETH:", "--length", 40, "--seed", 7)
    b = run("nlp", "generate", trained, "--prompt", "MACBETH:", "--length", 40, "--seed", 7)
    c = run("nlp", "generate", trained, "--prompt", "MACBETH:", "--length", 40, "--seed", 8)
    assert a.exit_code == 0, a.output
    assert a.stdout.startswith("MACBETH:")
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout


def test_greedy_generation_ignores_the_seed(trained):
    a = run("nlp", "generate", trained, "--length", 30, "--temperature", 0, "--seed", 1)
    b = run("nlp", "generate", trained, "--length", 30, "--temperature", 0, "--seed", 2)
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout


def test_top_k_and_top_p_options(trained):
    r = run("nlp", "generate", trained, "--length", 20, "--top-k", 3, "--top-p", 0.9, "--seed", 0)
    assert r.exit_code == 0, r.output
    assert len(r.stdout) >= 20


def test_folder_of_files_and_word_tokenizer(tmp_path, sample_text, tiny):
    folder = tmp_path / "corpus"
    folder.mkdir()
    half = len(sample_text) // 2
    (folder / "a.txt").write_text(sample_text[:half])
    (folder / "b.md").write_text(sample_text[half:])
    (folder / "PROVENANCE.md").write_text("not part of the corpus\n")
    out = tmp_path / "wrun"
    r = run("nlp", "train", folder, "--out", out, "--max-steps", 2, "--tokenizer", "word",
            *tiny(lowercase="true"))
    assert r.exit_code == 0, r.output
    itos = json.loads((out / "config.json").read_text())["task_state"]["tokenizer"]["itos"]
    assert "when" in itos and "When" not in itos and "provenance" not in itos
    r = run("nlp", "evaluate", out, folder, "--json")
    metrics = json.loads(r.stdout)
    assert metrics["characters"] == len(sample_text) + 1  # a.txt gains a line end
    assert metrics["tokens"] < metrics["characters"] / 2
    r = run("nlp", "generate", out, "--length", 10, "--seed", 0)
    assert r.exit_code == 0, r.output


def test_separate_valid_file(tmp_path, text_file, sample_text, tiny):
    valid = tmp_path / "valid.txt"
    valid.write_text(sample_text[:200])
    out = tmp_path / "vrun"
    r = run("nlp", "train", text_file, "--valid", valid, "--out", out, "--max-steps", 2, *tiny())
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["config"]["data"]["valid"] == str(valid)


def test_undecodable_text_is_an_error_naming_the_byte_offset(tmp_path, tiny):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"First Witch:\nWhen shall we \xff meet again\n" * 20)
    r = run("nlp", "train", bad, "--out", tmp_path / "r", *tiny())
    assert r.exit_code == 2
    error = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "byte offset 27" in error[0] and str(bad) in error[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_encoding_option_for_train_and_evaluate(tmp_path, sample_text, trained, tiny):
    latin = tmp_path / "latin.txt"
    latin.write_bytes((sample_text + "Caf\u00e9\n").encode("latin-1"))
    out = tmp_path / "lrun"
    r = run("nlp", "train", latin, "--encoding", "latin-1", "--out", out, "--max-steps", 2, *tiny())
    assert r.exit_code == 0, r.output
    # a run remembers its encoding; a UTF-8 run needs --encoding for a Latin-1 text
    assert run("nlp", "evaluate", out, latin, "--json").exit_code == 0
    assert run("nlp", "evaluate", trained, latin, "--json").exit_code == 2
    r = run("nlp", "evaluate", trained, latin, "--json", "--encoding", "latin-1")
    assert r.exit_code == 0, r.output


def test_binary_evaluate_input_is_an_error(trained, tmp_path):
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"\x00\x01\x02binary")
    r = run("nlp", "evaluate", trained, blob, "--json")
    assert r.exit_code == 2 and "byte offset 0" in r.stderr and r.stdout == ""


def test_resume_continues_bit_exact(tmp_path, text_file, tiny):
    from safetensors.torch import load_file

    sets = tiny(schedule="constant", dropout=0.2, num_layers=2)
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run("nlp", "train", text_file, "--out", straight, "--max-steps", 6, *sets).exit_code == 0
    assert run("nlp", "train", text_file, "--out", split, "--max-steps", 3, *sets).exit_code == 0
    r = run("nlp", "train", text_file, "--out", split, "--max-steps", 6, "--resume", *sets)
    assert r.exit_code == 0, r.output
    a = load_file(straight / "trainer_state.safetensors")
    b = load_file(split / "trainer_state.safetensors")
    for name in a:
        if name.startswith("model."):
            assert (a[name] == b[name]).all(), name


def test_variable_bptt_trains(tmp_path, text_file, tiny):
    r = run("nlp", "train", text_file, "--out", tmp_path / "v", "--max-steps", 3,
            *tiny(variable_bptt="true", weight_drop=0.3, backend="reference"))
    assert r.exit_code == 0, r.output


def test_default_run_folder_and_latest(tmp_path, text_file, tiny, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("nlp", "train", text_file, "--max-steps", 2, *tiny())
    assert r.exit_code == 0, r.output
    assert (tmp_path / "runs" / "nlp" / "1" / "model.safetensors").is_file()
    r = run("nlp", "generate", "--length", 5, "--seed", 0)
    assert r.exit_code == 0, r.output
    r = run("nlp", "evaluate", "latest", text_file, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["tokens"] > 0


def test_bpe_tokenizer_end_to_end(tmp_path, text_file, sample_text, tiny):
    pytest.importorskip("tokenizers")
    out = tmp_path / "bpe"
    r = run("nlp", "train", text_file, "--out", out, "--tokenizer", "bpe", "--max-steps", 2,
            *tiny(vocab_size=300))
    assert r.exit_code == 0, r.output
    metrics = json.loads(run("nlp", "evaluate", out, text_file, "--json").stdout)
    assert metrics["characters"] == len(sample_text) and metrics["tokens"] < len(sample_text)
    assert run("nlp", "generate", out, "--length", 5, "--seed", 0).exit_code == 0


def test_too_little_text_is_an_error(tmp_path, tiny):
    short = tmp_path / "short.txt"
    short.write_text("Hail!\n")
    r = run("nlp", "train", short, "--out", tmp_path / "r", *tiny(batch_size=16))
    assert r.exit_code == 2 and "short.txt" in r.stderr and "at least 16 are needed" in r.stderr


def test_a_text_short_for_the_batch_trains_with_a_smaller_one_and_says_so(tmp_path, tiny):
    short = tmp_path / "short.txt"
    short.write_text("When shall we three meet again\nIn thunder, lightning, or in rain?\n" * 2)
    r = run("nlp", "train", short, "--out", tmp_path / "r", *tiny(batch_size=64, bptt=8),
            "--set", 'split="1,0,0"', "--max-steps", "3")
    assert r.exit_code == 0, r.output
    warning = [line for line in r.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warning) == 1 and "too few for batch_size 64; training with batch_size 14" in warning[0]
