"""Choose the lexicon decoder's weights on a run's validation split (training voices, never the
held-out test set): the network's log-probabilities are computed once, then every setting of
the grid decodes them.

    python bench/speech_decoder.py RUN MANIFEST [--beams 2,4,8,16] [--weights 0.5,1,1.5,2]
        [--bonuses -1,0,1,2]

MANIFEST is the run's training manifest; its validation split (the same hash of the paths as
training) is decoded. Prints WER and decoding CPU seconds per second of audio for each setting.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch


def main(argv=None):
    from rnnsuite.core import load_run
    from rnnsuite.plugins.speech.decode import lexicon_beam_search
    from rnnsuite.plugins.speech.domain import SpeechDomain
    from rnnsuite.plugins.speech.metrics import ErrorRate
    from rnnsuite.plugins.speech.task import SpeechTask

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("manifest")
    p.add_argument("--beams", default="2,4,8,16")
    p.add_argument("--weights", default="0.5,1,1.5,2")
    p.add_argument("--bonuses", default="-1,0,1,2")
    args = p.parse_args(argv)
    loaded = load_run(args.run, SpeechDomain(), "cpu")
    task = SpeechTask(loaded.config, args.manifest, None)   # only for its validation split
    run_task = loaded.task
    matrices, refs, seconds = [], [], 0.0
    with torch.no_grad():
        for utterance, feats in zip(task.valid, task.valid_features):
            log_probs, frames = loaded.model(feats.float()[None], torch.tensor([len(feats)]))
            matrices.append(log_probs[:int(frames[0]), 0].numpy())
            refs.append(utterance.text.split())
            seconds += utterance.seconds
    print(f"{len(refs)} validation utterances, {sum(map(len, refs))} words, {seconds:.0f} s")
    print(f"{'beam':>5} {'weight':>7} {'bonus':>6} {'WER':>7} {'CPU s / audio s':>16}")
    floats = lambda text: [float(x) for x in text.split(",")]  # noqa: E731
    for beam, weight, bonus in itertools.product([int(b) for b in args.beams.split(",")],
                                                 floats(args.weights), floats(args.bonuses)):
        words = ErrorRate()
        start = time.process_time()
        for matrix, ref in zip(matrices, refs):
            hyp = lexicon_beam_search(matrix, run_task.vocab.labels, run_task.lexicon,
                                      run_task.word_lm, beam=beam, word_weight=weight,
                                      word_bonus=bonus)
            words.add(ref, hyp.words)
        cpu = time.process_time() - start
        print(f"{beam:>5} {weight:>7.2f} {bonus:>6.2f} {words.rate:>7.4f} {cpu / seconds:>16.4f}",
              flush=True)


if __name__ == "__main__":
    main()
