"""The joint frame output (FrameNADE): an exact, normalised likelihood; sampling from the same
conditionals; and the piano-roll pipeline with it (train, evaluate, generate, old runs)."""

import itertools
import json

import mido
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from rnnsuite.apps.cli import cli
from rnnsuite.core import load_run
from rnnsuite.plugins.music.domain import MusicDomain
from rnnsuite.plugins.music.nade import FrameNADE


def _nade(keys=5, hidden=4, seed=0):
    torch.manual_seed(seed)
    nade = FrameNADE(in_features=3, keys=keys, hidden=hidden)
    with torch.no_grad():   # large weights, so that the keys depend strongly on each other
        nade.W.normal_(0, 2.0)
        nade.V.normal_(0, 2.0)
    return nade


def _sequential_nll(nade, params, frame):
    """-log p(frame) walking the keys one at a time with the formula written out."""
    b, c = params[: nade.keys], params[nade.keys:]
    total = 0.0
    for i in range(nade.keys):
        a = c + sum((frame[j] * nade.W[j] for j in range(i)), torch.zeros(nade.hidden))
        p = torch.sigmoid(b[i] + nade.V[i] @ torch.sigmoid(a))
        total -= float(torch.log(p if frame[i] else 1 - p))
    return total


def test_nade_probabilities_of_all_frames_sum_to_one():
    nade = _nade()
    frames = torch.tensor(list(itertools.product([0, 1], repeat=5)), dtype=torch.float32)  # (32, 5)
    with torch.no_grad():
        for row in nade(torch.randn(2, 3)):                                # (keys + hidden,)
            nll = nade.nll(row.expand(32, -1), frames)
            assert float(torch.exp(-nll).sum()) == pytest.approx(1.0, abs=1e-5)


def test_nade_nll_matches_the_sequential_formula_and_is_not_independent():
    nade = _nade()
    with torch.no_grad():
        params = nade(torch.randn(3))
        for bits in [(0, 0, 0, 0, 0), (1, 0, 1, 1, 0), (1, 1, 1, 1, 1)]:
            frame = torch.tensor(bits, dtype=torch.float32)
            assert float(nade.nll(params, frame)) == pytest.approx(_sequential_nll(nade, params, frame),
                                                                   abs=1e-4)
        # a key's probability depends on the keys below it
        low_off, low_on = torch.zeros(5), torch.tensor([1.0, 0, 0, 0, 0])
        assert not torch.allclose(nade.logits(params, low_off)[1:], nade.logits(params, low_on)[1:])


def test_nade_samples_follow_its_probabilities():
    nade = _nade(keys=3, hidden=4, seed=1)
    with torch.no_grad():
        params = nade(torch.randn(3))
        frames = torch.tensor(list(itertools.product([0, 1], repeat=3)), dtype=torch.float32)
        probs = torch.exp(-nade.nll(params.expand(8, -1), frames))
    g = torch.Generator().manual_seed(0)
    n = 4000
    counts = torch.zeros(8)
    for _ in range(n):
        frame = nade.sample(params, generator=g)
        counts[int(frame[0]) * 4 + int(frame[1]) * 2 + int(frame[2])] += 1
    # each frequency within 4 standard errors of its probability
    se = torch.sqrt(probs * (1 - probs) / n)
    assert torch.all((counts / n - probs).abs() <= 4 * se + 1e-3), (counts / n, probs)


def test_nade_sample_temperature_zero_and_voice_limit():
    nade = _nade(keys=6, hidden=4, seed=2)
    with torch.no_grad():
        params = nade(torch.randn(3))
        greedy = nade.sample(params, temperature=0)
        logits = nade.logits(params, greedy.float())
    assert torch.equal(greedy.bool(), logits > 0)   # each key its likelier value given those below
    with torch.no_grad():
        params[:6] = 20.0                             # every key wants to sound
    assert int(nade.sample(params, max_voices=2).sum()) == 2


def test_nade_gradients_match_finite_differences():
    nade = _nade(keys=4, hidden=3).double()
    u = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    frames = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.float64)

    def f(u, W, V):
        nade.W.data, nade.V.data = W, V
        b, c = nade(u).split([4, 3], dim=-1)
        contrib = frames.unsqueeze(-1) * W
        h = torch.sigmoid(c.unsqueeze(-2) + torch.cumsum(contrib, -2) - contrib)
        logits = b + (h * V).sum(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, frames, reduction="sum")

    W = nade.W.detach().clone().requires_grad_()
    V = nade.V.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (u, W, V))
    # and the module's own nll (float32 inside) gives the same value
    nade.W.data, nade.V.data = W.detach(), V.detach()
    with torch.no_grad():
        assert float(nade.nll(nade(u), frames).sum()) == pytest.approx(float(f(u, W, V)), rel=1e-5)


TINY = ["--representation", "pianoroll", "--set", "hidden_size=8", "--set", "embedding_dim=8",
        "--set", "nade_hidden=6", "--set", "batch_size=2", "--set", "bptt=16", "--max-steps", "2",
        "--device", "cpu"]


def _train(data, run, *extra):
    return CliRunner().invoke(cli, ["music", "train", str(data), "--out", str(run), *TINY, *extra])


def test_pianoroll_run_with_joint_output_trains_evaluates_and_generates(midi_folder, tmp_path):
    run = tmp_path / "run"
    result = _train(midi_folder, run)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["model"]["output"] == "auto"
    loaded = load_run(run, MusicDomain(), "cpu")
    assert isinstance(loaded.model.head, FrameNADE)
    result = CliRunner().invoke(cli, ["music", "evaluate", str(run), str(midi_folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] > 0
    out = tmp_path / "out.mid"
    result = CliRunner().invoke(cli, ["music", "generate", str(run), "--out", str(out), "--bars", "2",
                                      "--plot", str(tmp_path / "roll.png"), "--wav",
                                      str(tmp_path / "out.wav"), "--seed", "0"])
    assert result.exit_code == 0, result.output
    _assert_paired_notes(out)
    assert (tmp_path / "roll.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out.wav").read_bytes()[:4] == b"RIFF"


def _assert_paired_notes(path):
    """Valid MIDI whose every note-on is ended by a note-off of the same key and channel."""
    sounding, ons = set(), 0
    for track in mido.MidiFile(path).tracks:
        for m in track:
            if m.type == "note_on" and m.velocity > 0:
                assert (m.channel, m.note) not in sounding
                sounding.add((m.channel, m.note))
                ons += 1
            elif m.type in ("note_off", "note_on"):
                sounding.discard((m.channel, m.note))
    assert ons > 0 and not sounding


def test_events_reject_a_frame_output(midi_folder, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["music", "train", str(midi_folder), "--out", str(run),
                                      "--max-steps", "1", "--set", "output=nade"])
    assert result.exit_code == 2
    assert "for piano rolls" in result.output and not run.exists()


def test_runs_without_the_output_key_load_with_independent_keys(midi_folder, tmp_path):
    run = tmp_path / "run"
    result = _train(midi_folder, run, "--set", "output=independent")
    assert result.exit_code == 0, result.output
    record = json.loads((run / "config.json").read_text())
    del record["config"]["model"]["output"], record["config"]["model"]["nade_hidden"]
    (run / "config.json").write_text(json.dumps(record))
    loaded = load_run(run, MusicDomain(), "cpu")
    assert isinstance(loaded.model.head, torch.nn.Linear)
    result = CliRunner().invoke(cli, ["music", "evaluate", str(run), str(midi_folder), "--json"])
    assert result.exit_code == 0, result.output
    assert np.isfinite(json.loads(result.stdout)["nll"])
    out = tmp_path / "old.mid"
    result = CliRunner().invoke(cli, ["music", "generate", str(run), "--out", str(out), "--bars", "2",
                                      "--seed", "0"])
    assert result.exit_code == 0, result.output
    _assert_paired_notes(out)
