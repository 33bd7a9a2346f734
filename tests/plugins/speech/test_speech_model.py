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


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_does_not_change_outputs_or_ctc_loss(cell):
    torch.manual_seed(0)
    model = CTCRecognizer(n_mels=8, num_labels=6, cell=cell, hidden_size=6, num_layers=2,
                          subsample=4, conv_channels=6, dropout=0.0).eval()
    long, short = torch.randn(40, 8), torch.randn(23, 8)
    batch = torch.zeros(2, 40, 8)
    batch[0], batch[1, :23] = long, short
    targets = [torch.tensor([1, 2, 3]), torch.tensor([4, 4])]
    log_probs, out = model(batch, torch.tensor([40, 23]))
    alone, alone_out = model(short[None], torch.tensor([23]))
    n = alone_out.item()
    torch.testing.assert_close(log_probs[:n, 1], alone[:, 0], atol=1e-5, rtol=1e-5)
    batch_loss = SpeechTask._ctc(log_probs, out, targets)
    # independent per-utterance CTC with torch, then the mean of loss / target length
    single = [torch.nn.functional.ctc_loss(log_probs[:out[i], i:i + 1], targets[i][None],
                                           out[i:i + 1], torch.tensor([len(targets[i])]),
                                           reduction="sum") / len(targets[i]) for i in range(2)]
    torch.testing.assert_close(batch_loss, torch.stack(single).mean(), atol=1e-5, rtol=1e-5)
