"""Regenerate the example chorales: `python examples/midi/make_examples.py` (needs music21).

Renders the first 20 Bach chorales of music21's corpus (Riemenschneider order) that music21
can write as MIDI; each file is named `<riemenschneider number>_<bwv>.mid`.
"""

from pathlib import Path

from music21 import corpus

HERE = Path(__file__).resolve().parent
COUNT = 20


def main():
    written = []
    for score in corpus.chorales.Iterator(returnType="stream"):
        md = score.metadata
        bwv = Path(md.corpusFilePath).stem.replace(".", "_")
        name = f"{int(md.number):03d}_{bwv}.mid"
        try:
            score.write("midi", fp=str(HERE / name))
        except Exception as err:  # music21 cannot expand some repeat structures
            print(f"skipped {md.corpusFilePath}: {err}")
            continue
        written.append(f"| {name} | {md.number} | {md.title} | {md.corpusFilePath} |")
        if len(written) == COUNT:
            break
    print("\n".join(written))


if __name__ == "__main__":
    main()
