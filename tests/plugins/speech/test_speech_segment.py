"""Long recordings: split at pauses, and transcripts put back on the recording's time line."""

import numpy as np
import pytest
from rnnsuite.plugins.speech.segment import speech_regions
from rnnsuite.plugins.speech.task import LONG_SECONDS, SpeechTask
from speech_helpers import needs_tts, two_minute_recording


def _bursts(spans, seconds, rate=16000, seed=0):
    """Noise bursts (speech stand-ins) at `spans` (start, end) seconds over a faint floor."""
    rng = np.random.default_rng(seed)
    wave = rng.normal(size=int(seconds * rate)).astype(np.float32) * 1e-3
    for start, end in spans:
        first, last = int(start * rate), int(end * rate)
        wave[first:last] += rng.normal(size=last - first) * 0.2
    return wave


def test_regions_follow_the_pauses():
    spans = [(1.0, 3.0), (4.5, 5.0), (5.2, 6.0), (9.0, 9.05), (10.0, 12.0)]
    regions = speech_regions(_bursts(spans, 13.0))
    seconds = [(s / 16000, e / 16000) for s, e in regions]
    # the 0.2 s gap closes, the 0.05 s blip goes, each region gets 0.2 s of padding
    expected = [(0.8, 3.2), (4.3, 6.2), (9.8, 12.2)]
    assert len(seconds) == len(expected)
    for (s, e), (xs, xe) in zip(seconds, expected):
        assert abs(s - xs) < 0.05 and abs(e - xe) < 0.05


def test_long_speech_is_cut_at_its_quietest_moment():
    wave = _bursts([(0.0, 30.0)], 30.0)
    wave[int(8.0 * 16000):int(8.1 * 16000)] *= 0.05        # a dip inside the second half
    regions = speech_regions(wave, max_seconds=10.0)
    assert all((e - s) / 16000 <= 10.0 + 1e-6 for s, e in regions)
    assert abs(regions[0][1] / 16000 - 8.0) < 0.15
    assert regions[0][0] == 0 and regions[-1][1] == len(wave)


def test_silence_has_no_regions():
    assert speech_regions(np.zeros(32000, np.float32)) == []


class _Parts(SpeechTask):
    """recognise() with a stand-in for the network: each part says where it starts."""

    def __init__(self):
        self.config = {"train": {"batch_size": 4}}

    def _recognise(self, waves, model, device, with_times):
        out = []
        for w in waves:
            word = f"w{len(w)}"
            out.append((word, [{"word": word, "start": 0.1, "end": 0.3}] if with_times else None))
        return out


def test_long_recordings_are_transcribed_in_parts_on_one_time_line():
    spans = [(1.0, 6.0), (8.0, 14.0), (17.0, 20.0), (23.0, 26.0)]
    long = _bursts(spans, 28.0)
    short = _bursts([(0.5, 1.5)], 2.0, seed=1)
    assert len(long) / 16000 > LONG_SECONDS
    (text, words), (short_text, short_words) = _Parts().recognise(None, [long, short], "cpu",
                                                                  with_times=True)
    regions = speech_regions(long, max_seconds=12.0)
    assert len(text.split()) == len(regions) == 4
    assert [w["start"] for w in words] == pytest.approx([s / 16000 + 0.1 for s, _ in regions])
    assert short_text == f"w{len(short)}" and short_words[0]["start"] == 0.1


@needs_tts()
def test_a_two_minute_synthesised_recording_splits_at_its_pauses(tmp_path):
    from rnnsuite.plugins.speech.audio import read_audio

    path, truth = two_minute_recording(tmp_path)
    regions = speech_regions(read_audio(path), max_seconds=12.0)
    assert truth[-1][1] >= 115 and len(regions) == len(truth)
    for (s, e), (ts, te) in zip(regions, truth):
        assert s / 16000 <= ts + 0.1 and e / 16000 >= te - 0.1   # every sentence inside its part
