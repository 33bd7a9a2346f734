"""The synthetic corpus: texts, voice shares, recording-like augmentation, the MBROLA opt-in."""

import numpy as np
import pytest
from rnnsuite.core import UserError
from rnnsuite.plugins.speech import synth
from rnnsuite.plugins.speech.pronounce import missing_words


def test_every_task_word_has_a_pronunciation():
    rng = np.random.default_rng(0)
    texts = [synth.alphanumeric_text(rng)[0] for _ in range(2000)]
    assert not {w for t in texts for w in missing_words(t)}
    singles = sum(len(t.split()) == 1 for t in texts) / len(texts)
    assert 0.12 <= singles <= 0.3          # isolated words: 12% by design, plus short commands


def test_training_voices_follow_the_engine_shares(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(synth, "available_engines", lambda: {"espeak": None, "flite": {"slt", "rms"},
                                                             "festival": {"kal_diphone", "ked_diphone"}})

    def fake(requests, noise, telephone, out_dir, fmt):
        made.extend((r.split, r.voice.engine) for r in requests)
        return [(r.split, {"path": f"{r.index}.wav", "text": "one", "speaker": r.voice.spec,
                           "seconds": 1.0}, None) for r in requests]

    monkeypatch.setattr(synth, "_make", fake)
    synth.build_corpus(tmp_path, n=4000, test_n=400, voices=["espeak:*+m1", "flite:slt",
                                                            "festival:kal_diphone"],
                       test_voices=["flite:rms", "festival:ked_diphone"], progress=False)
    train = [e for split, e in made if split == "train"]
    present = {e: s for e, s in synth.ENGINE_SHARES.items() if e != "pico"}   # no pico voice here
    for engine, share in present.items():
        assert abs(train.count(engine) / len(train) - share / sum(present.values())) < 0.03
    test = [e for split, e in made if split == "test"]
    assert abs(test.count("festival") / len(test) - synth.TEST_FESTIVAL_SHARE) < 0.04


def test_augmentation_keeps_a_noise_floor_and_the_telephone_rate():
    rng = np.random.default_rng(1)
    speech = np.sin(np.arange(16000) * 2 * np.pi * 300 / 16000).astype(np.float32) * 0.5
    audio, rate, applied = synth._augment(speech, 16000, rng, noise=0.0, telephone=1.0)
    assert rate == 8000 and "telephone 8 kHz" in applied
    audio, rate, _ = synth._augment(speech, 16000, np.random.default_rng(2), noise=0.0, telephone=0.0)
    head = audio[:1000]                       # the silence before the speech is not digital zero
    assert rate == 16000 and 0 < np.abs(head).max() < 0.01


def test_reverberation_keeps_the_length_and_spreads_the_energy():
    rng = np.random.default_rng(3)
    click = np.zeros(16000, np.float32)
    click[100] = 1.0
    wet, what = synth._reverberate(click, rng)
    assert len(wet) == len(click) and what.startswith("reverb")
    assert np.abs(wet[2000:]).max() > 0        # a tail after the click


def test_mbrola_is_opt_in_with_a_one_line_error_when_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "mbrola_installed", lambda: [])
    monkeypatch.setattr(synth, "available_engines", lambda: {"espeak": None})
    with pytest.raises(UserError, match="non-free.*non-commercial"):
        synth.build_corpus(tmp_path, n=2, mbrola=True, progress=False)
    assert not any(v.startswith("espeak:mb-") for v in synth.DEFAULT_VOICES)


@pytest.mark.skipif(not synth.available_engines().get("festival"), reason="festival not installed")
def test_festival_renders_many_utterances_in_one_process(tmp_path):
    voice = synth._Voice("festival", sorted(synth.available_engines()["festival"])[0])
    requests = [synth._plan((i, "train", voice, 0), None, "alphanumeric") for i in range(3)]
    rendered = synth._render_festival(requests, tmp_path)
    for (audio, rate), r in zip(rendered, requests):
        assert rate in (8000, 16000, 32000) and len(audio) / rate > 0.2, r.spoken


@pytest.mark.skipif("pico" not in synth.available_engines(), reason="Svox Pico not installed")
def test_pico_speaks_at_the_pitch_drawn_for_training(tmp_path):
    voice = synth._Voice("pico", "en-US")
    train = synth._plan((0, "train", voice, 0), None, "alphanumeric")
    test = synth._plan((0, "test", voice, 0), None, "alphanumeric")
    assert "pitch" in train.settings and "pitch" not in test.settings   # held out: its own voice
    audio, rate = synth._render(train, tmp_path)
    assert rate == 16000 and len(audio) / rate > 0.2


def test_each_utterance_is_grouped_by_its_strongest_condition():
    assert synth.recording_group("clean") == "clean"
    assert synth.recording_group("reverb 0.32 s, band 193-3604 Hz") == "reverb"
    assert synth.recording_group("band 193-3604 Hz, telephone 8 kHz") == "telephone"
    assert synth.recording_group("pink noise 12 dB") == "noise"
