"""LanguageModelTask: the corpus as parallel streams, walked in truncated-BPTT windows."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from rnnsuite.core import StepOutput, Task, UserError, batchify, tbptt_windows, warn
from rnnsuite.plugins.nlp.data import Corpus, describe_split, load_corpus, read_corpus
from rnnsuite.plugins.nlp.metrics import lm_metrics
from rnnsuite.plugins.nlp.tokenizers import build_tokenizer, encode_array, tokenizer_from_state

__all__ = ["LanguageModelTask", "build_language_model", "score_text", "score_ids"]

#: Time steps per forward pass when scoring a long text (state carried between them).
SCORE_WINDOW = 512
#: The shortest training text (in tokens) that trains: batch 1, windows of a few tokens.
MIN_TOKENS = 16


def build_language_model(config: dict, vocab_size: int):
    """Embedding -> stacked recurrent cells -> decoder, tied when sizes allow."""
    from rnnsuite.core import SequenceModel

    m = config["model"]
    embedding_dim = int(m.get("embedding_dim") or m["hidden_size"])
    out_size = m["hidden_size"] * (2 if m.get("bidirectional") else 1)
    if m.get("bidirectional"):
        raise UserError("model.bidirectional: a language model reads left to right; set bidirectional=false")
    return SequenceModel(
        m["cell"], vocab_size=vocab_size, embedding_dim=embedding_dim,
        hidden_size=m["hidden_size"], num_layers=m["num_layers"], output_size=vocab_size,
        dropout=m["dropout"], input_dropout=m["embedding_dropout"],
        output_dropout=m["output_dropout"], weight_drop=m["weight_drop"],
        tie_weights=bool(m["tie_weights"]) and embedding_dim == out_size, backend=m["backend"],
        locked_dropout=bool(m["locked_dropout"]),
    )


def _device_of(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def score_ids(model, ids: list[int], boundary_id: int, streams: int = 1, window: int = SCORE_WINDOW) -> tuple[float, int]:
    """Sum of -ln p(token | all before it) over `ids`, read after one `boundary_id` token.

    With streams=1 the state is carried over the whole text. With streams=S the text is cut into
    S contiguous pieces scored side by side (faster; each piece starts from a zero state).

    Returns (total_nats, tokens) with tokens == len(ids).
    """
    device = _device_of(model)
    n = len(ids)
    if n == 0:
        return 0.0, 0
    streams = max(1, min(int(streams), n))
    length = -(-n // streams)  # ceil
    seq = torch.as_tensor(ids).long()
    targets = torch.full((streams * length,), -100, dtype=torch.long)
    targets[:n] = seq
    inputs = torch.zeros(streams * length, dtype=torch.long)
    inputs[0] = boundary_id
    inputs[1:n] = seq[:-1]  # input t is the token before target t
    #   targets as columns: column b holds tokens b*L .. (b+1)*L-1, read top to bottom
    inputs = inputs.view(streams, length).t().contiguous().to(device)  # (L, S)
    targets = targets.view(streams, length).t().contiguous().to(device)  # (L, S)
    total = torch.zeros((), dtype=torch.float64, device=device)
    state = None
    for i in range(0, length, window):
        logits, state = model(inputs[i:i + window], state)  # (k, S, V)
        total += F.cross_entropy(logits.float().flatten(0, 1), targets[i:i + window].flatten(),
                                 ignore_index=-100, reduction="sum").double()
    return float(total), n


def score_text(model, tokenizer, text: str, streams: int = 1) -> dict:
    """Language-model metrics of `text` (see `lm_metrics`)."""
    ids = tokenizer.encode(text)
    total, tokens = score_ids(model, ids, tokenizer.boundary_id, streams)
    return lm_metrics(total, tokens, len(text))


class LanguageModelTask(Task):
    """Next-token prediction on a text corpus.

    Training lays the training text out as `batch_size` parallel streams (columns) and walks
    them in windows of `bptt` tokens, carrying each column's hidden state from one window to the
    next (detached by the trainer), so the model sees an unbroken text per column.
    """

    #: batches are (inputs, targets) of shape (k, B): torchrun ranks split them along B (columns)
    batch_axis = 1

    def __init__(self, config: dict, data, state: dict | None):
        self.config = config
        d = config["data"]
        self.corpus: Corpus | None = None
        self.data = data
        if data is not None:
            self.corpus = load_corpus(data, valid=d.get("valid"), test=d.get("test"),
                                      split=d["split"],
                                      encoding=d.get("encoding") or "utf-8")
            if state is None:   # a new run says what went where (a resume rebuilds the same)
                print(describe_split(self.corpus, data, d.get("valid"), d.get("test")),
                      file=sys.stderr)
        if state is not None and "tokenizer" in state:
            self.tokenizer = tokenizer_from_state(state["tokenizer"])
        elif self.corpus is not None:
            self.tokenizer = build_tokenizer(d["tokenizer"], self.corpus.train,
                                             lowercase=d["lowercase"],
                                             min_count=d["min_count"],
                                             vocab_size=d["vocab_size"])
        else:
            raise UserError("nlp: a new run needs training text")
        self._train_stream = None
        self._valid_ids = None

    # -- the contract -----------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"tokenizer": self.tokenizer.state_dict()}

    def build_model(self):
        return build_language_model(self.config, len(self.tokenizer))

    def train_stream(self) -> torch.Tensor:
        """The training tokens laid out as columns: (N // batch_size, batch_size), int16 (int32
        for vocabularies of 32,768 tokens or more): 2 bytes a token, made into int64 a window at
        a time in `training_step`."""
        if self._train_stream is None:
            if self.corpus is None:
                raise UserError("nlp: no training text was given")
            ids = torch.from_numpy(encode_array(self.tokenizer, self.corpus.train))
            self._fit_batch_to_text(len(ids))
            self._train_stream = batchify(ids, self.config["train"]["batch_size"])  # (N // B, B)
        return self._train_stream

    def _fit_batch_to_text(self, tokens: int) -> None:
        """A text too short for batch_size streams of one window (bptt + 1 tokens) each trains
        with fewer streams (and, below one window, a shorter window), with a warning; below
        MIN_TOKENS it cannot train."""
        train = self.config["train"]
        bs, bptt = train["batch_size"], train["bptt"]
        if tokens // bs >= bptt + 1:      # every stream holds a whole window
            return
        if tokens < MIN_TOKENS:
            raise UserError(f"{self.data}: the training text has {tokens} tokens; at least "
                            f"{MIN_TOKENS} are needed to train")
        new_bs = max(1, min(bs, tokens // (bptt + 1)))
        new_bptt = min(bptt, tokens // new_bs - 1)
        warn(f"{self.data}: the training text has {tokens} tokens, too few for batch_size {bs}; "
             f"training with batch_size {new_bs}" + (f" and bptt {new_bptt}" if new_bptt != bptt else ""))
        train["batch_size"], train["bptt"] = new_bs, new_bptt

    def steps_per_epoch(self) -> int | None:
        """Windows per epoch (read by the trainer for the LR schedule); None when they vary."""
        if self.config["data"].get("variable_bptt"):
            return None
        T = self.train_stream().shape[0]
        return -(-(T - 1) // self.config["train"]["bptt"])

    def train_batches(self, epoch: int, generator):
        bptt = self.config["train"]["bptt"]
        variable = bool(self.config["data"]["variable_bptt"])
        yield from tbptt_windows(self.train_stream(), bptt, generator=generator, variable=variable)

    def training_step(self, model, batch, hidden) -> StepOutput:
        inputs, targets = (t.long() for t in batch)  # (k, B) each
        logits, hidden = model(inputs, hidden)  # (k, B, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return StepOutput(loss, hidden=hidden, items=targets.numel())

    def validate(self, model) -> dict:
        if self.corpus is None or not self.corpus.valid.strip():
            return {}
        if self._valid_ids is None:
            self._valid_ids = torch.from_numpy(encode_array(self.tokenizer, self.corpus.valid))
        total, tokens = score_ids(model, self._valid_ids, self.tokenizer.boundary_id,
                                  streams=self.config["data"]["eval_streams"])
        metrics = lm_metrics(total, tokens, len(self.corpus.valid))
        return {"loss": metrics["nats_per_token"], "perplexity": metrics["perplexity"],
                "bits_per_char": metrics["bits_per_char"]}

    def media(self, model) -> dict:
        """200 tokens sampled from the model (temperature 0.8, seed 0)."""
        import torch
        from rnnsuite.plugins.nlp.commands import generate_ids

        ids = generate_ids(model, [], self.tokenizer.boundary_id, 200, temperature=0.8,
                           generator=torch.Generator().manual_seed(0))
        return {"samples/text": "".join(self.tokenizer.stream(ids, after=""))}

    def export_graph(self, model):
        """One step (or T steps) of the language model: token ids and state in, next-token
        logits and state out. Tokenising and sampling stay outside (see the nlp README)."""
        from rnnsuite.core.export import step_graph

        vocab = len(self.tokenizer)
        steps = (3, 5) if model.rnn.backend == "fused" else (1, 1)
        doc = ("tokens: (T, B) int64 token ids of the run's tokenizer (task_state in the metadata); "
               "h0/c0: (layers, B, hidden) state, zeros to start; logits: (T, B, vocab) "
               "next-token logits; h1/c1: the state after the last step")
        return step_graph(model, torch.randint(vocab, (steps[0], 2)), "tokens", "logits", doc,
                          check_x=torch.randint(vocab, (steps[1], 3)))

    def evaluate(self, model, data) -> dict:
        if data is None:
            if self.corpus is None or not self.corpus.test.strip():
                raise UserError("nlp evaluate: give a TEXT file or folder to evaluate on")
            text = self.corpus.test
        else:
            text = read_corpus(Path(data), self.config["data"].get("encoding") or "utf-8")
        return score_text(model, self.tokenizer, text, streams=1)
