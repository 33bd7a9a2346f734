"""`rnnsuite music generate`: sample a new piece from a trained run and write it as MIDI."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["generate", "generate_piece"]


def generate_piece(loaded, *, primer: Path | None = None, seconds: float | None = None,
                   bars: int | None = None, temperature: float = 1.0, top_k: int = 0,
                   seed: int | None = None):
    """Sample from a LoadedRun. Returns (notes, midi keyword arguments)."""
    import numpy as np
    import torch
    from rnnsuite.core import UserError
    from rnnsuite.plugins.music.data import encode_file
    from rnnsuite.plugins.music.generate import (
        events_to_notes,
        roll_to_notes,
        sample_events,
        sample_roll,
    )

    task = loaded.task
    state = task.state
    time_signature = tuple(state.get("time_signature") or (4, 4))
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    primer_data = None
    if primer is not None:
        from rnnsuite.plugins.music._smf import MidiFormatError

        try:
            primer_data = encode_file(Path(primer), task.settings, use_cache=False).data
        except FileNotFoundError:
            raise UserError(f"{primer}: no such file") from None
        except (MidiFormatError, ValueError, OSError) as err:
            raise UserError(f"{primer}: not a usable MIDI primer ({err})") from None
    if task.representation == "events":
        tempo = 120.0
        beats_per_bar = time_signature[0] * 4 / time_signature[1]
        if bars is not None:
            seconds = bars * beats_per_bar * 60.0 / tempo
        tokens = sample_events(loaded.model, task.vocab, primer_data, seconds or 30.0,
                               temperature, top_k, generator)
        notes = events_to_notes(tokens, task.vocab)
    else:
        tempo = float(state.get("tempo_bpm") or 100.0)
        spb = task.settings.steps_per_beat
        frames_per_bar = int(round(time_signature[0] * 4 / time_signature[1] * spb))
        if bars is not None:
            frames = bars * frames_per_bar
        else:
            frames = int(round((seconds or 30.0) * tempo / 60.0 * spb))
        if primer_data is None:
            firsts = state.get("first_frames") or [[60, 64, 67]]
            pick = int(torch.randint(len(firsts), (), generator=generator))
            primer_data = np.zeros((1, 88), dtype=np.uint8)
            for p in firsts[pick]:
                primer_data[0, p - 21] = 1
            frames -= 1
        roll = sample_roll(loaded.model, primer_data, max(frames, 0), temperature, generator,
                           max_voices=top_k)
        notes = roll_to_notes(roll, spb, tempo)
    return notes, {"tempo_bpm": tempo, "time_signature": time_signature}


@click.command()
@click.argument("run", required=False, default="latest")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="MIDI file to write.")
@click.option("--primer", type=click.Path(path_type=Path),
              help="A MIDI file to continue (the output begins with it).")
@click.option("--length", type=click.FloatRange(min=0.0), default=None,
              help="Seconds to generate after the primer [default: 30].")
@click.option("--bars", type=click.IntRange(min=1), default=None,
              help="Bars to generate (in the run's most common time signature) instead of --length.")
@click.option("--temperature", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
              help="Sampling temperature; 0 is greedy.")
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True,
              help="events: sample among the K most likely tokens; pianoroll: at most K keys "
                   "per frame (0: no limit).")
@click.option("--seed", type=int, default=None, help="Random seed: the same seed gives the same file.")
@click.option("--wav", type=click.Path(path_type=Path), help="Also write a WAV rendering (simple synth).")
@click.option("--plot", type=click.Path(path_type=Path), help="Also write a piano-roll PNG.")
@click.option("--device", default="cpu", show_default=True, help="auto | cpu | cuda[:N] | mps.")
def generate(run, out, primer, length, bars, temperature, top_k, seed, wav, plot, device):
    """Generate a new piece from a trained music RUN (default: latest) and write it to --out."""
    from rnnsuite.core import UserError, atomic_write_bytes, load_run
    from rnnsuite.plugins.music.domain import MusicDomain
    from rnnsuite.plugins.music.midi import midi_bytes

    if length is not None and bars is not None:
        raise UserError("give --length or --bars, not both")
    loaded = load_run(run, MusicDomain(), device=device)
    notes, midi_args = generate_piece(loaded, primer=primer, seconds=length, bars=bars,
                                      temperature=temperature, top_k=top_k, seed=seed)
    atomic_write_bytes(out, midi_bytes(notes, **midi_args))
    click.echo(f"wrote {out}: {len(notes)} notes, "
               f"{max((n[2] for n in notes), default=0.0):.1f} s", err=True)
    if wav is not None:
        from rnnsuite.plugins.music.synth import synthesize, wav_bytes

        atomic_write_bytes(wav, wav_bytes(synthesize(notes)))
        click.echo(f"wrote {wav}", err=True)
    if plot is not None:
        from rnnsuite.plugins.music.plot import save_pianoroll

        save_pianoroll(notes, plot, title=f"{Path(out).name}")
        click.echo(f"wrote {plot}", err=True)
