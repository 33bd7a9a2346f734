import pytest
import torch
from rnnsuite.plugins.speech.model import CTCRecognizer, subsampled_lengths
from rnnsuite.plugins.speech.task import SpeechTask


@pytest.mark.parametrize("subsample", [1, 2, 4])
def test_subsampled_lengths_match_the_front_end(subsample):
    model = CTCRecognizer(n_mels=8, num_labels=5, hidden_size=4, num_layers=1,
                          subsample=subsample, conv_channels=4).eval()
    for frames in (1, 2, 7, 8, 33):
        log_probs, out = model(torch.randn(1, frames, 8), torch.tensor([frames]))
        assert log_probs.shape[0] == out.item() == subsampled_lengths(torch.tensor(frames), subsample)


def n_out(frames: int) -> int:
    return int(subsampled_lengths(torch.tensor(frames), 4))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_does_not_change_outputs_or_ctc_loss(cell):
    torch.manual_seed(0)
    model = CTCRecognizer(n_mels=8, num_labels=6, cell=cell, hidden_size=6, num_layers=2,
                          subsample=4, conv_channels=6, dropout=0.0).eval()
    long, short = torch.randn(40, 8), torch.randn(23, 8)
    batch = torch.zeros(2, 40, 8)
    batch[0], batch[1, :23] = long, short
    targets = [torch.tensor([1, 2, 3]), torch.tensor([4, 4])]
    model.train()    # the padded path without packing (training) must agree too
    torch.testing.assert_close(model(batch, torch.tensor([40, 23]))[0][:n_out(23), 1],
                               model(short[None], torch.tensor([23]))[0][:, 0], atol=1e-5, rtol=1e-5)
    model.eval()
    log_probs, out = model(batch, torch.tensor([40, 23]))
    alone, alone_out = model(short[None], torch.tensor([23]))
    n = alone_out.item()
    torch.testing.assert_close(log_probs[:n, 1], alone[:, 0], atol=1e-5, rtol=1e-5)
    batch_loss = SpeechTask._ctc([[t.tolist()] for t in targets], log_probs, out)
    # independent per-utterance CTC with torch, then the mean of loss / target length
    single = [torch.nn.functional.ctc_loss(log_probs[:out[i], i:i + 1], targets[i][None],
                                           out[i:i + 1], torch.tensor([len(targets[i])]),
                                           reduction="sum") / len(targets[i]) for i in range(2)]
    torch.testing.assert_close(batch_loss, torch.stack(single).mean(), atol=1e-5, rtol=1e-5)


def test_ctc_sums_over_a_transcripts_pronunciations():
    # one utterance with two label sequences (pronunciations): -log(P(a) + P(b)), per label of
    # the first; the other with one. Checked against torch's CTC on each sequence alone.
    torch.manual_seed(1)
    log_probs = torch.randn(12, 2, 6).log_softmax(-1)
    frames = torch.tensor([12, 9])
    alternatives = [[[1, 2, 3], [1, 4]], [[5, 5]]]
    loss = SpeechTask._ctc(alternatives, log_probs, frames)

    def nll(b, labels):
        return torch.nn.functional.ctc_loss(log_probs[:frames[b], b:b + 1], torch.tensor([labels]),
                                            frames[b:b + 1], torch.tensor([len(labels)]),
                                            reduction="sum")
    first = -torch.logaddexp(-nll(0, [1, 2, 3]), -nll(0, [1, 4])) / 3
    second = nll(1, [5, 5]) / 2
    torch.testing.assert_close(loss, (first + second) / 2, atol=1e-5, rtol=1e-5)


def test_a_pronunciation_too_long_for_the_frames_is_left_out():
    log_probs = torch.randn(3, 1, 6).log_softmax(-1)
    # [1, 1, 1] needs 5 frames (blanks between repeats): only [2] can align to 3 frames
    loss = SpeechTask._ctc([[[1, 1, 1], [2]]], log_probs, torch.tensor([3]))
    alone = torch.nn.functional.ctc_loss(log_probs, torch.tensor([[2]]), torch.tensor([3]),
                                         torch.tensor([1]), reduction="sum") / 3
    torch.testing.assert_close(loss, alone, atol=1e-5, rtol=1e-5)
