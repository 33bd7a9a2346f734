"""Stateful sampling from a trained music model, and turning the samples into MIDI notes.

The model reads one step at a time with its state carried (no re-reading of the past), so a
minute of music costs one forward step per token or frame.
"""

from __future__ import annotations

import numpy as np
import torch
from rnnsuite.core.sampling import sample_next
from rnnsuite.plugins.music.events import STEP, EventVocab, decode_events, keys_down
from rnnsuite.plugins.music.pianoroll import KEYS, roll_notes

__all__ = ["sample_events", "sample_roll", "events_to_notes", "roll_to_notes", "TICKS_PER_BEAT"]

TICKS_PER_BEAT = 480


@torch.no_grad()
def sample_events(model, vocab: EventVocab, primer: np.ndarray | None, seconds: float,
                  temperature: float = 1.0, top_k: int = 0, generator=None,
                  max_tokens: int | None = None) -> np.ndarray:
    """Sample tokens after `primer` (tokens starting with START; None: START alone) until
    `seconds` of music follow the primer. Returns primer + sampled tokens.

    Only tokens that the encoder can write at that point are drawn: NOTE_OFF of a key that is
    down and NOTE_ON of a key that is up (a re-struck key is written OFF, ON), never START.
    The model's probability of the others (an OFF of a silent key, which the decoder would
    drop) goes to the legal ones, so a note that the model means to end does end."""
    device = next(model.parameters()).device
    model.eval()
    tokens = [vocab.start] if primer is None or len(primer) == 0 else [int(t) for t in primer]
    # a model that reads the keys down (PitchClassEmbedding(keys_down=True)) takes (T, 1, 1 + 128)
    reads_keys = getattr(getattr(model, "encoder", None), "keys", None) is not None
    x = torch.tensor(tokens, dtype=torch.long, device=device).unsqueeze(1)  # (T, 1)
    if reads_keys:  # as MusicTask._pad builds them for training and scoring
        held = torch.from_numpy(keys_down(np.array(tokens), vocab).astype(np.int32)).to(device)
        x = torch.cat([x.unsqueeze(2).int(), held.unsqueeze(1)], dim=2)  # (T, 1, 129) int32
    logits, state = model(x)  # (T, 1, V)
    last = logits[-1, 0]
    steps_wanted = int(round(seconds / STEP))
    steps = 0
    limit = max_tokens or steps_wanted * 20 + 100
    # START never follows; TIME_SHIFTs are clipped so the piece ends at `seconds`.
    banned = torch.zeros(len(vocab), dtype=torch.bool, device=device)
    banned[vocab.start] = True
    down = torch.zeros(128, dtype=torch.bool, device=device)  # keys sounding now
    for t in tokens:
        _press(down, t, vocab)
    for _ in range(limit):
        banned[vocab.note_on:vocab.note_on + 128] = down
        banned[vocab.note_off:vocab.note_off + 128] = ~down
        token = int(sample_next(last.masked_fill(banned, float("-inf"))[None], temperature, top_k,
                                generator=generator)[0])
        _press(down, token, vocab)
        if vocab.time_shift <= token < vocab.velocity:
            k = token - vocab.time_shift + 1
            if steps + k >= steps_wanted:
                k = steps_wanted - steps
                if k > 0:
                    tokens.append(vocab.time_shift + k - 1)
                steps = steps_wanted
                break
            steps += k
        tokens.append(token)
        x = torch.tensor([[token]], device=device)  # (1, 1)
        if reads_keys:
            x = torch.cat([x.int(), down.int().unsqueeze(0)], dim=1).unsqueeze(0)  # (1, 1, 129)
        logits, state = model(x, state)
        last = logits[-1, 0]
    return np.array(tokens, dtype=np.int16)


def _press(down: torch.Tensor, token: int, vocab: EventVocab) -> None:
    """Update the keys that are down after `token` (NOTE_ON presses, NOTE_OFF releases)."""
    if vocab.note_on <= token < vocab.note_on + 128:
        down[token - vocab.note_on] = True
    elif vocab.note_off <= token < vocab.note_off + 128:
        down[token - vocab.note_off] = False


@torch.no_grad()
def sample_roll(model, primer: np.ndarray, frames: int, temperature: float = 1.0,
                generator=None, max_voices: int = 0) -> np.ndarray:
    """Sample `frames` frames after `primer` (F0, 88). An independent head draws each key from
    sigmoid(logit / temperature); a FrameNADE head draws the keys of a frame one after another
    from its conditionals. Returns (F0 + frames, 88) uint8."""
    from rnnsuite.plugins.music.nade import FrameNADE

    device = next(model.parameters()).device
    model.eval()
    joint = isinstance(model.head, FrameNADE)
    roll = [np.asarray(f, dtype=np.uint8) for f in primer]
    x = torch.from_numpy(np.asarray(primer, dtype=np.float32)).unsqueeze(1).to(device)  # (F0,1,88)
    out, state = model(x)
    last = out[-1, 0]
    for _ in range(frames):
        if joint:
            frame = model.head.sample(last, temperature, generator, max_voices)
        else:
            frame = _independent_frame(last.float().cpu(), temperature, generator, max_voices)
        roll.append(frame.numpy())
        out, state = model(frame.float().view(1, 1, KEYS).to(device), state)
        last = out[-1, 0]
    return np.stack(roll) if roll else np.zeros((0, KEYS), dtype=np.uint8)


def _independent_frame(logits: torch.Tensor, temperature: float, generator,
                       max_voices: int) -> torch.Tensor:
    """One frame, each key on with probability sigmoid(logit / temperature) (0: logit > 0);
    with `max_voices`, only the likeliest `max_voices` of the keys drawn stay on."""
    if temperature <= 0:
        frame = (logits > 0).to(torch.uint8)
    else:
        frame = (torch.rand(KEYS, generator=generator) < torch.sigmoid(logits / temperature)).to(torch.uint8)
    if max_voices and int(frame.sum()) > max_voices:
        keep = torch.topk(logits.masked_fill(frame == 0, float("-inf")), max_voices).indices
        frame = torch.zeros(KEYS, dtype=torch.uint8)
        frame[keep] = 1
    return frame


def events_to_notes(tokens, vocab: EventVocab):
    """Tokens -> `(pitch, start_s, end_s, velocity, drum)`, every note paired."""
    return decode_events(tokens, vocab)


def roll_to_notes(roll: np.ndarray, steps_per_beat: int, tempo_bpm: float):
    """Roll -> `(pitch, start_s, end_s, velocity)` (held keys merged) at a tempo."""
    ticks_per_frame = TICKS_PER_BEAT // steps_per_beat
    seconds_per_tick = 60.0 / tempo_bpm / TICKS_PER_BEAT
    return [(p, a * seconds_per_tick, b * seconds_per_tick, v)
            for p, a, b, v in roll_notes(roll, ticks_per_frame, merge=True)]

