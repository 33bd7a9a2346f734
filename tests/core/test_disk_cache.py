"""core.disk_cache: entries written atomically, and a cache that cannot be written reported once
per cache folder, however many threads fail at once."""

from concurrent.futures import ThreadPoolExecutor

from rnnsuite.core import disk_cache
from rnnsuite.core.disk_cache import content_key, write_entry


def test_an_entry_is_written_and_its_key_follows_content_and_settings(tmp_path):
    assert write_entry(tmp_path / "ab" / "entry.npz", b"data", tmp_path)
    assert (tmp_path / "ab" / "entry.npz").read_bytes() == b"data"
    key = content_key(b"data", "n_mels=80")
    assert len(key) == 32 and key != content_key(b"data", "n_mels=40") != content_key(b"dat4", "n_mels=80")
    assert key == content_key(b"data", "n_mels=80")


def test_an_unwritable_cache_warns_once_per_folder_even_from_many_threads(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(disk_cache, "_warned", set())
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    cache = blocked / "speech"                      # cannot be created under a file
    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(lambda i: write_entry(cache / f"{i:02d}" / "e.npz", b"x", cache), range(32)))
    assert written == [False] * 32
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"Warning: {cache}: cannot write the cache (Not a directory); what it would hold "
                     "stays in memory and is derived again next time"]
    assert not write_entry(tmp_path / "file" / "music" / "e.npz", b"x")       # another folder: its own line
    assert "file/music: cannot write the cache" in capsys.readouterr().err
