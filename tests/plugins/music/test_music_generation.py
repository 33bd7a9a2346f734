"""What makes generated events music: legal sampling, pitch-class sharing, the tonality measure."""

import numpy as np
import pytest
import torch
from rnnsuite.core import SequenceModel
from rnnsuite.core.config import complete_config, default_config
from rnnsuite.plugins.music.domain import MusicDomain
from rnnsuite.plugins.music.events import EventVocab, keys_down
from rnnsuite.plugins.music.generate import sample_events
from rnnsuite.plugins.music.metrics import (
    pc_distance,
    pitch_class_histogram,
    scale_fit,
)
from rnnsuite.plugins.music.model import PitchClassEmbedding, PitchClassHead
from rnnsuite.plugins.music.task import MusicTask

VOCAB = EventVocab()


def _notes(pitches, length=0.5):
    return [(p, i * length, (i + 1) * length, 80) for i, p in enumerate(pitches)]


# -- the measure ---------------------------------------------------------------------------------


def test_scale_fit_is_one_for_a_diatonic_scale_in_any_key_and_seven_twelfths_for_chromatic():
    c_major = _notes([60, 62, 64, 65, 67, 69, 71, 72])
    a_minor = _notes([57, 59, 60, 62, 64, 65, 67, 69])  # natural minor: C major's notes
    e_flat_major = _notes([p + 3 for p in (60, 62, 64, 65, 67, 69, 71, 72)])
    chromatic = _notes(range(60, 72))
    for notes in (c_major, a_minor, e_flat_major):
        assert scale_fit(pitch_class_histogram(notes)) == pytest.approx(1.0)
    assert scale_fit(pitch_class_histogram(chromatic)) == pytest.approx(7 / 12)
    # C major with F#: the notes of G major; with C# too: no scale holds all, 7 of 8 at best
    assert scale_fit(pitch_class_histogram(_notes([60, 62, 64, 66, 67, 69, 71, 72]))) == 1.0
    assert scale_fit(pitch_class_histogram(_notes([60, 61, 62, 64, 66, 67, 69, 71]))) == pytest.approx(7 / 8)


def test_pitch_class_histogram_weights_by_sounding_time_or_counts_notes():
    notes = [(60, 0.0, 3.0, 80), (61, 3.0, 4.0, 80)]  # C held 3 s, C# 1 s
    by_time = pitch_class_histogram(notes)
    assert by_time[0] == pytest.approx(0.75) and by_time[1] == pytest.approx(0.25)
    assert pitch_class_histogram(notes, "count")[:2] == pytest.approx([0.5, 0.5])
    assert pitch_class_histogram(_notes([72]))[0] == 1.0  # octaves are one class
    assert pc_distance(by_time, by_time) == 0.0
    assert pc_distance(pitch_class_histogram(_notes([60])), pitch_class_histogram(_notes([62]))) == 1.0


# -- sampling ------------------------------------------------------------------------------------


def _stray_off_model():
    """An untrained events model whose head prefers NOTE_OFF tokens, mostly of silent keys."""
    torch.manual_seed(0)
    model = SequenceModel("lstm", vocab_size=len(VOCAB), embedding_dim=8, hidden_size=8,
                          output_size=len(VOCAB))
    with torch.no_grad():
        model.head.bias.zero_()
        model.head.bias[VOCAB.note_off:VOCAB.note_off + 128] = 4.0
        model.head.bias[VOCAB.note_on:VOCAB.note_on + 128] = 2.0
    return model


def test_sampler_draws_only_offs_of_sounding_keys_and_ons_of_silent_keys():
    tokens = sample_events(_stray_off_model(), VOCAB, None, 5.0,
                           generator=torch.Generator().manual_seed(0))
    down = set()
    ons = 0
    for t in tokens.tolist()[1:]:
        if t < 128:
            assert t not in down, f"NOTE_ON {t} while it sounds"
            down.add(t)
            ons += 1
        elif t < 256:
            assert t - 128 in down, f"NOTE_OFF {t - 128} of a silent key"
            down.remove(t - 128)
    assert ons > 20


def test_sampler_knows_the_keys_a_primer_leaves_down():
    primer = np.array([VOCAB.start, VOCAB.note_on + 60, VOCAB.note_on + 64, VOCAB.time_shift + 9],
                      dtype=np.int16)
    tokens = sample_events(_stray_off_model(), VOCAB, primer, 2.0,
                           generator=torch.Generator().manual_seed(1))
    down = {60, 64}
    for t in tokens.tolist()[len(primer):]:
        if t < 128:
            assert t not in down
            down.add(t)
        elif t < 256:
            assert t - 128 in down
            down.remove(t - 128)


# -- pitch-class sharing -------------------------------------------------------------------------


def test_pitch_class_embedding_adds_one_vector_per_class_in_every_octave_on_or_off():
    torch.manual_seed(0)
    emb = PitchClassEmbedding(VOCAB, 6)
    tokens = torch.tensor([[60, 72, VOCAB.note_off + 48, 61, VOCAB.time_shift, VOCAB.start]])
    with torch.no_grad():
        shared = emb(tokens) - emb.token(tokens)  # (1, 6, 6)
    c = emb.pitch_class.weight[0].detach()
    for i in range(3):  # NOTE_ON 60, NOTE_ON 72, NOTE_OFF 48: all C
        assert torch.allclose(shared[0, i], c, atol=1e-6)
    assert torch.allclose(shared[0, 3], emb.pitch_class.weight[1].detach(), atol=1e-6)  # C#
    assert torch.equal(shared[0, 4:], torch.zeros(2, 6))  # TIME_SHIFT, START: no class


def test_pitch_class_head_raises_a_class_in_every_octave_and_nothing_else():
    torch.manual_seed(0)
    head = PitchClassHead(4, VOCAB)
    h = torch.randn(3, 2, 4)
    plain = head.token(h)
    with torch.no_grad():
        head.pitch_class.weight.zero_()
        head.pitch_class.weight[0] = h[0, 0] * 0 + 1.0  # class C: logit sum(h)
    lift = (head(h) - plain)[0, 0]  # (V,)
    c_tokens = [VOCAB.note_on + p for p in range(0, 128, 12)] + [VOCAB.note_off + p for p in range(0, 128, 12)]
    assert torch.allclose(lift[c_tokens], h[0, 0].sum().expand(len(c_tokens)))
    others = torch.ones(len(VOCAB), dtype=torch.bool)
    others[c_tokens] = False
    assert torch.equal(lift[others], torch.zeros(int(others.sum())))
    assert head.bias is head.token.bias


def _task(model_options: dict):
    config = default_config(MusicDomain())
    config["model"].update(hidden_size=8, embedding_dim=8, **model_options)
    return MusicTask(config, None, {"representation": "events"})


def test_events_models_share_pitch_classes_by_default_and_old_runs_rebuild_plain_tables():
    encoder = _task({}).build_model().encoder
    assert isinstance(encoder, PitchClassEmbedding) and encoder.keys is not None
    old = default_config(MusicDomain())
    del old["model"]["pitch_classes"], old["model"]["keys_down"]  # a run saved before them
    old["model"].update(hidden_size=8, embedding_dim=8)
    old = complete_config(old, MusicDomain())      # as loading or resuming the run does
    model = MusicTask(old, None, {"representation": "events"}).build_model()
    assert isinstance(model.encoder, torch.nn.Embedding) and isinstance(model.head, torch.nn.Linear)
    assert "encoder.weight" in model.state_dict()


# -- keys down -----------------------------------------------------------------------------------


def test_keys_down_follows_note_ons_and_offs():
    v = VOCAB
    tokens = np.array([v.start, v.velocity + 20, v.note_on + 60, v.note_on + 64, v.time_shift + 49,
                       v.note_off + 60, v.note_on + 67, v.time_shift + 24, v.note_off + 64,
                       v.note_off + 67])
    down = keys_down(tokens, v)
    assert down.shape == (10, 128)
    expected = [set(), set(), {60}, {60, 64}, {60, 64}, {64}, {64, 67}, {64, 67}, {67}, set()]
    assert [set(np.flatnonzero(row).tolist()) for row in down] == expected


@pytest.mark.parametrize("reads_keys", [False, True])
def test_sampler_feeds_the_model_what_training_feeds_it(reads_keys):
    task = _task({"keys_down": reads_keys})  # (without it: as runs saved before the option)
    assert task.keys_down_input == reads_keys
    model = task.build_model()
    fed = []
    forward = model.forward

    def recording(x, state=None, lengths=None):
        fed.append(x.clone())
        return forward(x, state, lengths)

    model.forward = recording
    primer = np.array([VOCAB.start, VOCAB.note_on + 60, VOCAB.note_on + 64, VOCAB.time_shift + 9,
                       VOCAB.note_off + 60], dtype=np.int16)
    tokens = sample_events(model, VOCAB, primer, 2.0, generator=torch.Generator().manual_seed(0))
    x, _, _ = task._pad([tokens])  # what training and scoring feed for this piece
    fed = torch.cat(fed)[: len(x)]
    assert fed.shape == x.shape and fed.dtype == x.dtype and torch.equal(fed, x)


# -- harmony of piano-roll frames -----------------------------------------------------------------


def _roll(*frames):
    roll = np.zeros((len(frames), 88), dtype=np.uint8)
    for i, pitches in enumerate(frames):
        roll[i, [p - 21 for p in pitches]] = 1
    return roll


def test_frame_pitch_classes_fold_octaves_into_twelve_bits():
    from rnnsuite.plugins.music.metrics import frame_pitch_classes

    roll = _roll([60, 64, 67], [48, 72], [], [21])          # C E G; C C; silence; A0
    assert frame_pitch_classes(roll).tolist() == [1 | 1 << 4 | 1 << 7, 1, 0, 1 << 9]


def test_chord_fraction_counts_triads_sevenths_and_their_parts():
    from rnnsuite.plugins.music.metrics import chord_fraction

    chords = _roll([60, 64, 67],          # C major
                   [57, 60, 64],          # A minor
                   [59, 62, 65, 68],      # B diminished 7th
                   [43, 59, 62, 65],      # G7 (G B D F)
                   [60, 64, 71],          # C E B: part of C major 7th
                   [61, 65, 68, 72])      # C# major 7th (C# F G# C)
    clusters = _roll([60, 61, 62],        # C C# D
                     [60, 62, 64],        # C D E
                     [60, 66, 67])        # C F# G
    assert chord_fraction([chords]) == 1.0
    assert chord_fraction([clusters]) == 0.0
    # frames with fewer than three classes are left out; 6 chords of 9 counted frames
    assert chord_fraction([chords, clusters, _roll([60, 61], [60], [])]) == pytest.approx(6 / 9)
    assert np.isnan(chord_fraction([_roll([60, 72], [])]))


def test_pcset_distribution_and_its_distance():
    from rnnsuite.plugins.music.metrics import distribution_distance, pcset_distribution

    a = pcset_distribution([_roll([60, 64, 67], [60, 64, 67], [], [62])])
    assert a == pytest.approx({145: 0.5, 0: 0.25, 4: 0.25})
    b = pcset_distribution([_roll([60, 64, 67], [62])])
    assert distribution_distance(a, b) == pytest.approx(0.25)    # |.5-.5| + |.25-0| + |.25-.5|, halved
    assert distribution_distance(a, a) == 0.0
    assert distribution_distance({1: 1.0}, {2: 1.0}) == 1.0
