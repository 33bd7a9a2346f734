"""The CLI contract: commands, JSON output, run folders, and one-line errors with exit 2."""

import json

import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli

TINY = ["--set", "hidden_size=8", "--set", "epochs=1", "--max-steps", "3"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.startswith("rnnsuite ")


def test_help_lists_domains_and_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("plugins", "devices", "digits"):
        assert name in result.stdout


def test_plugins_json_lists_builtins_and_the_digits_plugin():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    infos = {p["name"]: p for p in json.loads(result.stdout)}
    assert {"nlp", "speech", "forecast", "music", "digits"} <= set(infos)
    assert infos["digits"]["status"] == "ok" and infos["digits"]["source"].startswith("entrypoint")
    assert "digits" in infos["digits"]["domains"]
    for info in infos.values():
        assert {"name", "version", "source", "status", "hooks"} <= set(info)


def test_devices_json_reports_cpu():
    result = invoke("devices", "--json")
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert any(d["type"] == "cpu" for d in info["devices"])
    assert info["auto"] in ("cpu", "cuda:0", "mps")


def test_unknown_domain_is_one_error_line_exit_2():
    result = invoke("nosuchdomain", "train", "x")
    assert result.exit_code == 2
    assert "nosuchdomain" in error_line(result)


def test_unknown_option_is_one_error_line_exit_2():
    result = invoke("digits", "train", "--bogus")
    assert result.exit_code == 2
    assert "--bogus" in error_line(result)


@pytest.mark.parametrize("args,needle", [
    (["--cell", "nope"], "unknown cell 'nope'"),
    (["--set", "nosuchkey=1"], "unknown config key 'nosuchkey'"),
    (["--set", "hidden_size=abc"], "hidden_size must be int"),
    (["--set", "hidden_size"], "key=value"),
])
def test_bad_train_settings_fail_before_writing(in_tmp, args, needle):
    result = invoke("digits", "train", "--out", in_tmp / "run", *args)
    assert result.exit_code == 2
    assert needle in error_line(result)
    assert not (in_tmp / "run").exists()


def test_config_file_with_unknown_key_is_rejected(in_tmp):
    (in_tmp / "c.toml").write_text("[model]\nhidden_sise = 8\n")
    result = invoke("digits", "train", "--config", in_tmp / "c.toml")
    assert result.exit_code == 2
    line = error_line(result)
    assert "c.toml" in line and "hidden_sise" in line


def test_config_file_that_is_not_toml_is_rejected(in_tmp):
    (in_tmp / "c.toml").write_bytes(b"\x00\xff garbage [[[")
    result = invoke("digits", "train", "--config", in_tmp / "c.toml")
    assert result.exit_code == 2 and "c.toml" in error_line(result)


def test_resume_without_checkpoint_is_an_error(in_tmp):
    result = invoke("digits", "train", "--out", in_tmp / "none", "--resume")
    assert result.exit_code == 2
    assert "none" in error_line(result)


def test_evaluate_missing_run_is_an_error(in_tmp):
    result = invoke("digits", "evaluate", in_tmp / "missing", "--json")
    assert result.exit_code == 2
    assert "missing" in error_line(result)
    assert result.stdout == ""


def test_evaluate_with_no_runs_yet_is_an_error(in_tmp):
    result = invoke("digits", "evaluate", "--json")
    assert result.exit_code == 2
    assert "no trained digits run" in error_line(result)


def test_corrupt_run_folder_is_an_error(in_tmp):
    run = in_tmp / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    result = invoke("digits", "evaluate", run, "--json")
    assert result.exit_code == 2 and "config.json" in error_line(result)


def test_run_folder_of_another_domain_is_an_error(in_tmp):
    run = in_tmp / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"domain": "music", "config": {}}))
    result = invoke("digits", "evaluate", run, "--json")
    assert result.exit_code == 2 and "domain 'music'" in error_line(result)


def test_train_defaults_to_next_free_run_and_latest_finds_it(in_tmp):
    first = invoke("digits", "train", *TINY)
    assert first.exit_code == 0, first.output
    assert "runs/digits/1" in first.stderr
    second = invoke("digits", "train", *TINY)
    assert second.exit_code == 0 and "runs/digits/2" in second.stderr
    for run in ("latest", "runs/digits/2", None):
        args = ["digits", "evaluate"] + ([run] if run else []) + ["--json"]
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        metrics = json.loads(result.stdout)
        assert 0.0 <= metrics["accuracy"] <= 1.0


def test_a_failed_first_start_leaves_nothing_a_retry_trips_over(in_tmp):
    result = invoke("digits", "train", "--out", in_tmp / "run", *TINY, "--set", "on_nan=x")
    assert result.exit_code == 2 and "on_nan" in error_line(result)
    assert not (in_tmp / "run").exists()                 # the folder it made is gone
    (in_tmp / "mine").mkdir()
    (in_tmp / "mine" / "notes.txt").write_text("keep me")
    result = invoke("digits", "train", "--out", in_tmp / "mine", *TINY, "--set", "on_nan=x")
    assert result.exit_code == 2
    assert sorted(p.name for p in (in_tmp / "mine").iterdir()) == ["notes.txt"]
    assert invoke("digits", "train", "--out", in_tmp / "mine", *TINY).exit_code == 0   # the retry
    assert (in_tmp / "mine" / "model.safetensors").is_file()
    assert (in_tmp / "mine" / "notes.txt").read_text() == "keep me"
    assert oct((in_tmp / "mine" / "config.json").stat().st_mode & 0o777) != oct(0o600)  # umask, not 0600


def test_train_into_existing_run_refuses_and_keeps_files(in_tmp):
    assert invoke("digits", "train", "--out", in_tmp / "run", *TINY).exit_code == 0
    before = (in_tmp / "run" / "model.safetensors").read_bytes()
    result = invoke("digits", "train", "--out", in_tmp / "run", *TINY)
    assert result.exit_code == 2 and "--resume" in error_line(result)
    assert (in_tmp / "run" / "model.safetensors").read_bytes() == before


def test_run_folder_files(in_tmp):
    assert invoke("digits", "train", "--out", in_tmp / "run", *TINY).exit_code == 0
    names = {p.name for p in (in_tmp / "run").iterdir()}
    assert {"config.json", "model.safetensors", "trainer_state.safetensors", "metrics.csv", "plots"} <= names
    header = (in_tmp / "run" / "metrics.csv").read_text().splitlines()[0]
    assert header == "step,epoch,split,metric,value,time"


def test_resume_never_ignores_what_the_user_typed(in_tmp):
    run = in_tmp / "run"
    assert invoke("digits", "train", "--out", run, *TINY, "--set", "lr=0.01").exit_code == 0
    saved = (run / "config.json").read_bytes()
    # a different optimizer setting or model shape: one Error: line naming the key, nothing changed
    for args, key in ((["--set", "lr=0.5"], "train.lr=0.5 (saved: 0.01)"),
                      (["--cell", "rnn"], "model.cell='rnn'"),
                      (["--set", "hidden_size=16"], "model.hidden_size=16 (saved: 8)")):
        result = invoke("digits", "train", "--out", run, "--resume", *args)
        assert result.exit_code == 2, result.output
        line = error_line(result)
        assert key in line and "only epochs, max_steps, max_time, device, threads, processes may change" in line
    assert (run / "config.json").read_bytes() == saved
    # the same command again with --resume, and budget / threads changes, are fine
    result = invoke("digits", "train", "--out", run, *TINY, "--set", "lr=0.01", "--resume",
                    "--max-steps", "5", "--set", "threads=1")
    assert result.exit_code == 0, result.output
    assert "Done: 5 steps" in result.stderr


def test_max_time_alone_trains_for_that_long_and_explicit_epochs_still_win(in_tmp):
    result = invoke("digits", "train", "--out", in_tmp / "timed", "--set", "hidden_size=8", "--max-time", "2")
    assert result.exit_code == 0, result.output
    assert "(max_time)" in result.stderr                      # not stopped by the default epochs
    config = json.loads((in_tmp / "timed" / "config.json").read_text())["config"]
    assert config["train"]["epochs"] == 0
    result = invoke("digits", "train", "--out", in_tmp / "epochs", "--set", "hidden_size=8", "--epochs", "1",
                    "--max-time", "600")
    assert result.exit_code == 0 and "(epochs)" in result.stderr


def test_shell_completion_scripts_come_from_click():
    import os
    import subprocess
    import sys

    for shell in ("bash", "zsh", "fish"):
        env = {**os.environ, "_RNNSUITE_COMPLETE": f"{shell}_source"}
        out = subprocess.run([sys.executable, "-c", "from rnnsuite.apps.cli import main; main()"],
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "_RNNSUITE_COMPLETE" in out.stdout, out.stderr


def test_plugins_table_columns_line_up():
    """Every row's cells start where the header's do, however long a plugin's source is."""
    lines = invoke("plugins").stdout.splitlines()
    header = lines[0]
    for column in ("version", "source", "domains", "status"):
        at = header.index(column)
        assert all(line[at - 2:at] == "  " for line in lines[1:]), column


def test_resume_refuses_data_that_is_not_the_runs(in_tmp):
    text = in_tmp / "a.txt"
    text.write_text("to be or not to be, that is the question\n" * 40)
    tiny = ["--set", "hidden_size=8", "--set", "batch_size=2", "--set", "bptt=8"]
    run = in_tmp / "run"
    assert invoke("nlp", "train", text, "--out", run, "--max-steps", "2", *tiny).exit_code == 0
    saved = (run / "config.json").read_bytes()
    assert json.loads(saved)["data_fingerprint"]["files"] == 1
    text.write_text("a different text altogether, of about the same kind\n" * 40)
    result = invoke("nlp", "train", text, "--out", run, "--resume", "--max-steps", "4", *tiny)
    assert result.exit_code == 2, result.output
    assert "not the data this run was trained on" in error_line(result)
    assert (run / "config.json").read_bytes() == saved
    text.write_text("to be or not to be, that is the question\n" * 40)   # the same again: fine
    result = invoke("nlp", "train", text, "--out", run, "--resume", "--max-steps", "4", *tiny)
    assert result.exit_code == 0, result.output


def test_data_fingerprint_of_a_folder_follows_its_files_not_the_run_inside(tmp_path):
    from rnnsuite.core.run_lifecycle import data_fingerprint

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.mid").write_bytes(b"x" * 10)
    (tmp_path / "sub" / "b.mid").write_bytes(b"y" * 5)
    (tmp_path / ".hidden").write_bytes(b"z")
    first = data_fingerprint(tmp_path, exclude=tmp_path / "run")
    assert (first["files"], first["bytes"]) == (2, 15)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"w" * 99)   # the run, inside DATA
    assert data_fingerprint(tmp_path, exclude=tmp_path / "run") == first
    (tmp_path / "sub" / "b.mid").write_bytes(b"y" * 6)
    assert data_fingerprint(tmp_path, exclude=tmp_path / "run") != first


def test_extend_by_epochs_uses_the_runs_steps_per_epoch(tmp_path):
    from click.testing import CliRunner
    from rnnsuite.apps.cli import cli

    run, runner = str(tmp_path / "run"), CliRunner()
    tiny = ["--set", "hidden_size=8", "--set", "threads=1"]
    first = runner.invoke(cli, ["digits", "train", "--out", run, "--epochs", "1", *tiny])
    assert first.exit_code == 0 and "Done: 40 steps (epochs)" in first.stderr, first.output
    more = runner.invoke(cli, ["digits", "train", "--out", run, "--resume", "--extend-epochs", "2"])
    assert more.exit_code == 0, more.output
    assert "2 epochs = 80 steps (40 steps per epoch so far)" in more.stderr
    assert "Done: 120 steps" in more.stderr
    both = runner.invoke(cli, ["digits", "train", "--out", run, "--resume", "--extend-epochs", "1",
                               "--extend-steps", "3"])
    assert both.exit_code == 2 and both.stderr.strip() == "Error: --extend-steps and --extend-epochs: give one of them"
    short = str(tmp_path / "short")
    assert runner.invoke(cli, ["digits", "train", "--out", short, "--max-steps", "3", *tiny]).exit_code == 0
    early = runner.invoke(cli, ["digits", "train", "--out", short, "--resume", "--extend-epochs", "1"])
    assert early.exit_code == 2 and "has not completed an epoch" in early.stderr


def test_extend_by_time_runs_its_schedule_over_the_seconds(tmp_path):
    import csv
    import json

    from click.testing import CliRunner
    from rnnsuite.apps.cli import cli

    run, runner = str(tmp_path / "run"), CliRunner()
    first = runner.invoke(cli, ["digits", "train", "--out", run, "--epochs", "1", "--set", "hidden_size=8",
                                "--set", "threads=1"])
    assert first.exit_code == 0, first.output
    more = runner.invoke(cli, ["digits", "train", "--out", run, "--resume", "--extend-time", "4"])
    assert more.exit_code == 0 and "(max_time)" in more.stderr, more.output
    train = json.loads((tmp_path / "run" / "config.json").read_text())["config"]["train"]
    (ext,) = train["extensions"]
    assert ext["seconds"] == 4.0 and ext["start_step"] == 40 and train["max_time"] == ext["start_elapsed"] + 4
    with open(tmp_path / "run" / "metrics.csv") as f:
        lrs = [(int(r["step"]), float(r["value"])) for r in csv.DictReader(f) if r["metric"] == "lr"]
    base = train["lr"]
    assert max(lr for step, lr in lrs if step > 40) > 0.3 * base     # restarted from the base rate
    assert lrs[-1][1] < 0.05 * base                                  # and decayed by the end
    again = runner.invoke(cli, ["digits", "train", "--out", run, "--resume"])
    assert again.exit_code == 0 and f"Done: {lrs[-1][0]} steps" in again.stderr  # nothing more
