"""`rnnsuite export RUN --format onnx`: every built-in domain's graph runs in onnxruntime and
matches torch within 1e-4 on inputs of other batch and sequence sizes than the export's."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from rnnsuite.apps.cli import cli

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TINY = ["--set", "threads=1", "--set", "eval_every=2"]


def train(tmp_path, *args):
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, [*args, "--out", str(run), *TINY])
    assert result.exit_code == 0, result.output
    return run


def export(run, *extra):
    result = CliRunner().invoke(cli, ["export", str(run), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def loaded(run, domain):
    from rnnsuite.core import load_run

    return load_run(run, domain, device="cpu")


def test_nlp_step_graph_carries_the_state_like_the_model(tmp_path):
    run = train(tmp_path, "nlp", "train", "examples/text", "--max-steps", "2",
                "--set", "hidden_size=16", "--set", "num_layers=2")
    summary = export(run)
    assert summary["max_abs_diff"] <= 1e-4 and summary["inputs"]["tokens"] == ["steps", "batch"]
    model = loaded(run, "nlp").model
    sess = session(summary["path"])
    tokens = torch.randint(10, (7, 4))
    # ten steps one at a time through onnxruntime, carrying h and c, against torch on all ten
    h, c = (s.numpy() for s in model.init_hidden(4))
    for t in range(7):
        logits, h, c = sess.run(None, {"tokens": tokens[t:t + 1].numpy(), "h0": h, "c0": c})
    with torch.no_grad():
        expected, (h_ref, c_ref) = model(tokens)
    assert np.abs(logits[0] - expected[-1].numpy()).max() <= 1e-4
    assert np.abs(h - h_ref.numpy()).max() <= 1e-4 and np.abs(c - c_ref.numpy()).max() <= 1e-4


def test_speech_graph_has_dynamic_batch_and_time(tmp_path):
    run = train(tmp_path, "speech", "train", "examples/speech/manifest.csv", "--max-steps", "1",
                "--set", "hidden_size=16", "--set", "num_layers=1", "--set", "conv_channels=16",
                "--set", "valid_fraction=0.5")
    summary = export(run, "--out", str(tmp_path / "am.onnx"))
    assert summary["path"] == str(tmp_path / "am.onnx") and summary["max_abs_diff"] <= 1e-4
    assert summary["inputs"]["feats"][:2] == ["batch", "frames"]
    model = loaded(run, "speech").model
    feats, frames = torch.randn(2, 333, summary["inputs"]["feats"][2]), torch.tensor([333, 90])
    feats[1, 90:] = 0
    log_probs, out_frames = session(summary["path"]).run(None, {"feats": feats.numpy(), "frames": frames.numpy()})
    with torch.no_grad():
        ref, ref_frames = model(feats, frames)
    assert log_probs.shape == tuple(ref.shape) and (out_frames == ref_frames.numpy()).all()
    assert np.abs(log_probs - ref.numpy()).max() <= 1e-4


def test_forecast_graph_gives_the_forecasters_columns(tmp_path):
    run = train(tmp_path, "forecast", "train", "examples/sales.csv", "--max-steps", "2",
                "--set", "hidden_size=8")
    # the mixed anchor's per-group blend on, so the graph must carry that branch too
    from rnnsuite.core.checkpoint import load_weights, save_weights

    weights, meta = load_weights(run / "model.safetensors")
    weights["group_blend"] = torch.tensor([1.0, 0.3, 0.7])
    save_weights(run / "model.safetensors", weights, meta)
    summary = export(run)
    length, batch, features = summary["inputs"]["x"]
    assert batch == "batch"
    run_state = loaded(run, "forecast")
    x = torch.randn(length, 5, features)
    (columns,) = session(summary["path"]).run(None, {"x": x.numpy()})
    from rnnsuite.plugins.forecast.model import to_columns

    m = run_state.model
    with torch.no_grad():
        ref = to_columns(m(x), m.loss, m.interval_scale, m.combine, m.anchor_weight, m.level_offset(x),
                         m.group_blend, m.views,
                         getattr(m, "view_share", None))
    assert m.group_blend[0] == 1.0
    assert columns.shape == (5, run_state.task.spec.horizon, 5)
    assert np.abs(columns - ref.numpy()).max() <= 1e-4


@pytest.mark.parametrize("output", ["nade", "independent"])
def test_music_pianoroll_graph(tmp_path, output):
    run = train(tmp_path, "music", "train", "examples/midi", "--max-steps", "2",
                "--set", "hidden_size=16", "--set", "representation=pianoroll",
                "--set", f"output={output}", "--set", "nade_hidden=8")
    summary = export(run)
    assert summary["max_abs_diff"] <= 1e-4
    sess = session(summary["path"])
    model = loaded(run, "music").model
    h, c = (s.numpy() for s in model.init_hidden(3))
    frames = torch.randint(2, (1, 3, 88)).float()
    feeds = {"frames": frames.numpy(), "h0": h, "c0": c}
    if output == "nade":
        # a near-zero temperature takes each key's likelier value: FrameNADE.sample's greedy frame
        feeds |= {"uniform": np.full((1, 3, 88), 0.5, np.float32), "temperature": np.array([1e-6], np.float32)}
        next_frames = sess.run(None, feeds)[0]
        with torch.no_grad():
            params, _ = model(frames)
        for b in range(3):
            greedy = model.head.sample(params[0, b], temperature=0)
            assert (next_frames[0, b] == greedy.numpy()).all()
    else:
        logits = sess.run(None, feeds)[0]
        with torch.no_grad():
            ref, _ = model(frames)
        assert np.abs(logits - ref.numpy()).max() <= 1e-4


def test_music_events_graph(tmp_path):
    run = train(tmp_path, "music", "train", "examples/midi", "--max-steps", "2",
                "--set", "hidden_size=16", "--set", "representation=events")
    summary = export(run)
    assert summary["max_abs_diff"] <= 1e-4 and summary["inputs"]["tokens"][:2] == ["steps", "batch"]


def test_metadata_says_what_the_graph_expects(tmp_path):
    import onnx

    run = train(tmp_path, "forecast", "train", "examples/sales.csv", "--max-steps", "1",
                "--set", "hidden_size=8")
    summary = export(run)
    meta = {p.key: p.value for p in onnx.load(summary["path"]).metadata_props}
    assert meta["rnnsuite.domain"] == "forecast" and "x: (L=" in meta["rnnsuite.doc"]
    assert json.loads(meta["rnnsuite.config"])["model"]["hidden_size"] == 8
    assert "scaler" in json.loads(meta["rnnsuite.task_state"])   # what unscaling the columns needs


def test_a_plugin_domain_exports_through_its_task_hook(tmp_path):
    run = train(tmp_path, "digits", "train", "--max-steps", "2")
    summary = export(run)
    assert summary["domain"] == "digits" and summary["max_abs_diff"] <= 1e-4
    assert summary["inputs"]["images"] == ["batch", 8, 8]


def test_bad_export_requests_are_one_error_line(tmp_path, monkeypatch):
    import sys

    runner = CliRunner()
    result = runner.invoke(cli, ["export", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and result.stderr.strip() == f"Error: {tmp_path / 'nothing'}: run folder not found"
    run = train(tmp_path, "digits", "train", "--max-steps", "1")
    from rnnsuite.core import Task
    from rnnsuite_digits.task import DigitsTask

    monkeypatch.setattr(DigitsTask, "export_graph", Task.export_graph)
    result = runner.invoke(cli, ["export", str(run)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: the digits domain cannot export its model (its Task has no export_graph)"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = runner.invoke(cli, ["export", str(run)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: export needs onnx and onnxruntime: pip install 'rnnsuite[onnx]'"
    assert not (run / "model.onnx").exists()
