"""Render music21's Bach chorales to MIDI once (slow: music21 parses every score), cached.

    python bench/_music21_chorales.py [OUT_DIR]     default ~/.cache/rnnsuite/bench/music21-chorales

Files are named `<riemenschneider number>_<corpus file>.mid`, original keys, music21's own
MIDI writer (`score.write("midi")`). Chorales music21 cannot render are listed in skipped.txt.
"""

import sys
from pathlib import Path

DEFAULT = Path.home() / ".cache" / "rnnsuite" / "bench" / "music21-chorales"


def render(out: Path = DEFAULT) -> Path:
    from music21 import corpus

    out.mkdir(parents=True, exist_ok=True)
    if (out / "DONE").is_file():
        return out
    skipped = []
    for score in corpus.chorales.Iterator(returnType="stream"):
        md = score.metadata
        name = f"{int(md.number):03d}_{Path(md.corpusFilePath).stem.replace('.', '_')}.mid"
        if (out / name).is_file():
            continue
        try:
            score.write("midi", fp=str(out / name))
        except Exception as err:
            skipped.append(f"{md.number} {md.corpusFilePath}: {err}")
    (out / "skipped.txt").write_text("\n".join(skipped) + "\n")
    (out / "DONE").write_text("ok\n")
    return out


if __name__ == "__main__":
    print(render(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
