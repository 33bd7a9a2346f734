"""MIDI -> tokens throughput: rnnsuite's events pipeline against miditok's MIDILike.

    python bench/music_tokenize.py [FOLDER] [--files 100] [--repeat 3]

FOLDER defaults to the music21 chorales that bench/music_jsb.py renders
(~/.cache/rnnsuite/bench/music21-chorales), else examples/midi. The same files go through:

- rnnsuite, first pass: read bytes, parse (rnnsuite's SMF reader), pair notes, encode events;
- rnnsuite, cached: the same call with the on-disk token cache warm (what later epochs and runs do);
- mido alone: `mido.MidiFile(...)` (parsing only, no notes or tokens) for reference;
- miditok MIDILike (32 velocity bins), `tokenizer(path)`: parse (symusic, C++) and tokenise.

Each is timed `--repeat` times on the same file list; the best time is reported (files/s,
tokens/s). Needs miditok (`pip install rnnsuite[bench]`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUSIC21_DIR = Path.home() / ".cache" / "rnnsuite" / "bench" / "music21-chorales"


def best_of(repeat: int, fn):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=None)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    folder = args.folder or (MUSIC21_DIR if MUSIC21_DIR.is_dir() else REPO / "examples" / "midi")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))[: args.files]
    if not files:
        raise SystemExit(f"{folder}: no MIDI files")
    os.environ["RNNSUITE_CACHE_DIR"] = tempfile.mkdtemp(prefix="music-tok-cache-")

    from rnnsuite.plugins.music.data import Settings, encode_bytes, encode_file

    settings = Settings(representation="events")

    def ours_first():
        return sum(len(encode_bytes(f.read_bytes(), settings)[0]) for f in files)

    def ours_cached():
        return sum(len(encode_file(f, settings).data) for f in files)

    def mido_parse():
        import mido

        return sum(len(mido.MidiFile(str(f)).tracks) for f in files) and 0

    rows = {}
    t, tokens = best_of(args.repeat, ours_first)
    rows["rnnsuite events, first pass"] = (t, tokens)
    ours_cached()  # fill the cache
    t, tokens_cached = best_of(args.repeat, ours_cached)
    assert tokens_cached == tokens
    rows["rnnsuite events, cached"] = (t, tokens)
    t, _ = best_of(args.repeat, mido_parse)
    rows["mido.MidiFile parse only"] = (t, None)
    try:
        from miditok import MIDILike, TokenizerConfig

        tokenizer = MIDILike(TokenizerConfig(num_velocities=32, use_programs=False))

        def miditok_pass():
            n = 0
            for f in files:
                seqs = tokenizer(f)
                seqs = seqs if isinstance(seqs, list) else [seqs]
                n += sum(len(s.ids) for s in seqs)
            return n

        t, mt_tokens = best_of(args.repeat, miditok_pass)
        rows["miditok MIDILike"] = (t, mt_tokens)
    except ImportError:
        print("miditok not installed: pip install miditok")

    out = {"files": len(files), "folder": str(folder), "repeat": args.repeat,
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "cpu": platform.processor() or platform.machine()},
           "rows": {}}
    print(f"{len(files)} files from {folder}, best of {args.repeat}")
    print("| pipeline | seconds | files/s | tokens | tokens/s |")
    print("| --- | --- | --- | --- | --- |")
    for name, (t, n) in rows.items():
        out["rows"][name] = {"seconds": round(t, 4), "files_per_s": round(len(files) / t, 1),
                             "tokens": n, "tokens_per_s": round(n / t) if n else None}
        print(f"| {name} | {t:.3f} | {len(files) / t:.0f} | {n or '-'} | "
              f"{f'{n / t:,.0f}' if n else '-'} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
