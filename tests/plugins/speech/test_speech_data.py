import numpy as np
import pytest
from rnnsuite.core import UserError
from rnnsuite.plugins.speech.audio import AudioError, read_audio
from rnnsuite.plugins.speech.data import load_corpus, read_entries
from speech_helpers import tone, write


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_read_audio_resamples_to_16k_mono(tmp_path, rate, channels):
    path = write(tmp_path / "a.wav", tone(0.5, rate, channels=channels), rate)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 8000) <= 1
    # a 440 Hz tone stays a 440 Hz tone: peak of the spectrum, checked with numpy's FFT
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    assert abs(np.argmax(spectrum) * 16000 / len(audio) - 440) < 4


def test_stereo_is_the_mean_of_the_channels(tmp_path):
    left, right = tone(0.2, freq=300), tone(0.2, freq=500, amplitude=0.1)
    path = write(tmp_path / "s.wav", np.stack([left, right], axis=1), 16000)
    np.testing.assert_allclose(read_audio(path), (left + right) / 2, atol=1e-4)  # 16-bit PCM


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_reads_flac_and_ogg(tmp_path, suffix):
    path = write(tmp_path / f"a{suffix}", tone(0.3, 22050), 22050)
    assert abs(len(read_audio(path)) - 4800) <= 400   # OGG may pad a little


def test_broken_and_empty_audio_raise_one_line_errors(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00junk" * 10)
    with pytest.raises(AudioError, match="broken.wav: cannot read audio"):
        read_audio(broken)
    with pytest.raises(AudioError, match="missing.wav: audio file not found"):
        read_audio(tmp_path / "missing.wav")
    empty = write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        read_audio(empty)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_a_file_shorter_than_its_header_is_read_with_one_warning(tmp_path, capsys, suffix):
    import soundfile

    signal = (np.sin(np.arange(16000) / 5) * 0.5).astype(np.float32)
    whole = tmp_path / f"whole{suffix}"
    soundfile.write(str(whole), signal, 16000)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    audio = read_audio(cut)
    assert 2000 < len(audio) < 16000
    np.testing.assert_allclose(audio, signal[: len(audio)], atol=1e-3)     # what is there, unchanged
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("Warning: ") and str(cut) in lines[0]
    assert "16000" in lines[0] and str(len(audio)) in lines[0]        # both lengths
    read_audio(whole)
    assert capsys.readouterr().err == ""


def test_manifest_csv_and_tsv_with_relative_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "a.wav", tone(), 16000)
    (tmp_path / "m.csv").write_text("path,text\nsub/a.wav,Hello 2\n", encoding="utf-8")
    (tmp_path / "m.tsv").write_text("text\tpath\nHi\tsub/a.wav\n", encoding="utf-8")
    for name, text in (("m.csv", "Hello 2"), ("m.tsv", "Hi")):
        entries, skipped = read_entries(tmp_path / name)
        assert [(e.path, e.text) for e in entries] == [(tmp_path / "sub" / "a.wav", text)]
        assert skipped == []


def test_manifest_without_columns_is_a_user_error(tmp_path):
    (tmp_path / "m.csv").write_text("file_name,words\nx.wav,hi\n", encoding="utf-8")
    with pytest.raises(UserError, match="m.csv: no 'path' column"):
        read_entries(tmp_path / "m.csv")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="empty.csv: manifest is empty"):
        read_entries(tmp_path / "empty.csv")


def test_folder_of_pairs_reports_audio_without_transcript(tmp_path):
    write(tmp_path / "a.wav", tone(), 16000)
    (tmp_path / "a.txt").write_text("yes\n", encoding="utf-8")
    write(tmp_path / "b.flac", tone(), 16000)
    entries, skipped = read_entries(tmp_path)
    assert [e.text for e in entries] == ["yes"]
    assert skipped == [(str(tmp_path / "b.flac"), "no transcript (b.txt)")]


def test_load_corpus_skips_and_counts_bad_files(tmp_path, capsys):
    write(tmp_path / "good.wav", tone(1.0), 16000)
    write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    write(tmp_path / "short.wav", tone(0.05), 16000)
    write(tmp_path / "dense.wav", tone(0.5), 16000)
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    rows = ["good.wav,Press 1", "silent.wav,yes", "short.wav,yes", "broken.wav,yes",
            "missing.wav,yes", "good.wav,  ?! ", "dense.wav," + "a very long transcript " * 4]
    (tmp_path / "m.csv").write_text("path,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "m.csv", min_seconds=0.2, max_seconds=30)
    assert [u.text for u in corpus.utterances] == ["press one"]
    reasons = dict((p.rsplit("/", 1)[-1], r) for p, r in corpus.skipped)
    assert set(reasons) == {"silent.wav", "short.wav", "broken.wav", "missing.wav", "good.wav",
                            "dense.wav"}
    assert "silent" in reasons["silent.wav"] and "too short" in reasons["short.wav"]
    assert "empty transcript" == reasons["good.wav"] and "mislabelled" in reasons["dense.wav"]
    assert "skipped" in capsys.readouterr().err
