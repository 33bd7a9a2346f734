"""Tokenisers: text <-> token ids, with a vocabulary that round-trips through RUN/config.json.

Pure Python (no torch). Each tokeniser has `encode(text) -> list[int]`, `decode(ids) -> str`,
`stream(ids)` (the text of each token as it comes), `boundary_id` (the token a text is
read after, see `LanguageModelTask.score`) and `state_dict()` / `tokenizer_from_state()`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from rnnsuite.core import UserError

__all__ = ["UNK", "EOS", "encode_array", "CharTokenizer", "WordTokenizer", "BpeTokenizer", "TOKENIZERS", "build_tokenizer",
           "tokenizer_from_state"]

UNK = "<unk>"
EOS = "<eos>"


class CharTokenizer:
    """One token per character. Index 0 is `<unk>` for characters unseen in training."""

    kind = "char"

    def __init__(self, chars: list[str]):
        self.itos = [UNK] + [c for c in chars if c != UNK]
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def fit(cls, text: str, **_) -> "CharTokenizer":
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        get = self.stoi.get
        return [get(c, 0) for c in text]

    def piece(self, i: int) -> str:
        return "\ufffd" if i == 0 else self.itos[i]

    def decode(self, ids) -> str:
        return "".join(self.piece(int(i)) for i in ids)

    @property
    def boundary_id(self) -> int:
        return self.stoi.get("\n", 0)

    def stream(self, ids, after: str = ""):
        """Yield the text of each token as it comes (for streaming to a terminal)."""
        for i in ids:
            yield self.piece(int(i))

    def state_dict(self) -> dict:
        return {"kind": self.kind, "itos": self.itos[1:]}

    @classmethod
    def from_state(cls, state: dict) -> "CharTokenizer":
        return cls(list(state["itos"]))


class WordTokenizer:
    """Whitespace-separated words, `<eos>` at each line end; rare words become `<unk>`.

    Args:
        lowercase: fold case before counting and encoding.
        min_count: words seen fewer times in training map to `<unk>`.
    """

    kind = "word"

    def __init__(self, words: list[str], lowercase: bool = False):
        self.lowercase = bool(lowercase)
        self.itos = [UNK, EOS] + [w for w in words if w not in (UNK, EOS)]
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def _words(self, text: str):
        if self.lowercase:
            text = text.lower()
        *lines, last = text.split("\n")
        for line in lines:
            yield from line.split()
            yield EOS
        yield from last.split()  # an unfinished last line (a prompt) gets no <eos>

    @classmethod
    def fit(cls, text: str, lowercase: bool = False, min_count: int = 1, **_) -> "WordTokenizer":
        probe = cls([], lowercase)
        counts = Counter(w for w in probe._words(text) if w != EOS)
        # most frequent first; ties in alphabetical order, so the vocabulary does not depend on hashing
        words = sorted((w for w, c in counts.items() if c >= max(1, int(min_count))),
                       key=lambda w: (-counts[w], w))
        return cls(words, lowercase)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        get = self.stoi.get
        return [get(w, 0) for w in self._words(text)]

    def decode(self, ids) -> str:
        return "".join(self.stream(ids))

    @property
    def boundary_id(self) -> int:
        return 1

    def stream(self, ids, after: str = ""):
        """Yield the text of each token as it comes: words separated by spaces, `<eos>` a line end.

        `after` is the text already written (the prompt), to know whether a space is due.
        """
        pending = bool(after) and not after[-1].isspace()
        for i in ids:
            i = int(i)
            if i == 1:
                pending = False
                yield "\n"
            else:
                yield (" " if pending else "") + self.itos[i]
                pending = True

    def state_dict(self) -> dict:
        return {"kind": self.kind, "lowercase": self.lowercase, "itos": self.itos[2:]}

    @classmethod
    def from_state(cls, state: dict) -> "WordTokenizer":
        return cls(list(state["itos"]), state.get("lowercase", False))


def _byte_to_char() -> dict[int, str]:
    """GPT-2's byte -> printable character table, the one Hugging Face's ByteLevel uses."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class BpeTokenizer:
    """Byte-level BPE trained locally with Hugging Face `tokenizers` (an optional dependency).

    Every byte is in the alphabet, so no text is ever `<unk>`; `<eos>` is reserved but unused.
    """

    kind = "bpe"

    def __init__(self, serialized: str):
        tokenizers = _require_tokenizers()
        self.serialized = serialized
        self.hf = tokenizers.Tokenizer.from_str(serialized)
        self.itos = [self.hf.id_to_token(i) for i in range(self.hf.get_vocab_size())]
        self._bytes = {c: b for b, c in _byte_to_char().items()}

    @classmethod
    def fit(cls, text: str, vocab_size: int = 1000, lowercase: bool = False, **_) -> "BpeTokenizer":
        tokenizers = _require_tokenizers()
        from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

        hf = tokenizers.Tokenizer(models.BPE(unk_token=UNK))
        if lowercase:
            hf.normalizer = normalizers.Lowercase()
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), special_tokens=[UNK, EOS],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        lines = text.splitlines(keepends=True)
        hf.train_from_iterator(("".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)), trainer)
        return cls(hf.to_str())

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text).ids

    def stream(self, ids, after: str = ""):
        """Yield text as soon as the bytes of the tokens so far complete a character."""
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for i in ids:
            token = self.itos[int(i)]
            if token in (UNK, EOS):
                yield "\n" if token == EOS else "\ufffd"
                continue
            text = decoder.decode(bytes(self._bytes[c] for c in token))
            if text:
                yield text
        rest = decoder.decode(b"", final=True)
        if rest:
            yield rest

    def decode(self, ids) -> str:
        return "".join(self.stream(ids))

    @property
    def boundary_id(self) -> int:
        newline = self.hf.token_to_id(_byte_to_char()[ord("\n")])
        return newline if newline is not None else 1

    def state_dict(self) -> dict:
        return {"kind": self.kind, "tokenizer_json": self.serialized}

    @classmethod
    def from_state(cls, state: dict) -> "BpeTokenizer":
        return cls(state["tokenizer_json"])


def _require_tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise UserError("tokenizer=bpe needs Hugging Face tokenizers: pip install tokenizers") from None
    return tokenizers


TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BpeTokenizer}


def build_tokenizer(kind: str, text: str, lowercase: bool = False, min_count: int = 1,
                    vocab_size: int = 1000):
    """Fit a tokeniser of `kind` ("char", "word" or "bpe") on the training text."""
    cls = TOKENIZERS.get(kind)
    if cls is None:
        raise UserError(f"tokenizer: unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZERS)}")
    return cls.fit(text, lowercase=lowercase, min_count=min_count, vocab_size=vocab_size)


def tokenizer_from_state(state: dict):
    """Rebuild the tokeniser saved by `state_dict()` (RUN/config.json)."""
    cls = TOKENIZERS.get(state.get("kind"))
    if cls is None:
        raise UserError(f"config.json: unknown tokenizer {state.get('kind')!r}")
    return cls.from_state(state)


#: Characters per piece when `encode_array` walks a long text.
ENCODE_PIECE = 1 << 20


def _piece_end(text: str, at: int) -> int:
    """The first line start at or after `at` that follows a newline and begins with a visible
    character (len(text) if none): every tokeniser here encodes the text before and after such
    a point as it encodes the whole."""
    while True:
        nl = text.find("\n", at)
        if nl < 0 or nl + 1 >= len(text):
            return len(text)
        if not text[nl + 1].isspace():
            return nl + 1
        at = nl + 1


def _char_table(tokenizer: CharTokenizer) -> np.ndarray:
    """Code point -> token id (0, <unk>, for the unseen; the last entry stands for every code
    point above the vocabulary's highest)."""
    table = np.zeros(max([ord(c) for c in tokenizer.stoi if len(c) == 1] or [0]) + 2, dtype=np.int32)
    for c, i in tokenizer.stoi.items():
        if len(c) == 1:
            table[ord(c)] = i
    return table


def _char_ids(table: np.ndarray, text: str) -> np.ndarray:
    """CharTokenizer.encode vectorised: code points through `_char_table`."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return table[np.minimum(points, len(table) - 1)]


def encode_array(tokenizer, text: str, piece: int = ENCODE_PIECE) -> np.ndarray:
    """`tokenizer.encode(text)` as a compact integer array (int16 for vocabularies under 32,768
    tokens, else int32), encoded a piece at a time: no Python list of the whole text's tokens
    (8 bytes a token, plus the list) is ever built."""
    dtype = np.int16 if len(tokenizer) < 2 ** 15 else np.int32
    table = _char_table(tokenizer) if tokenizer.kind == "char" else None
    parts, start = [], 0
    while start < len(text):
        end = _piece_end(text, start + piece)
        chunk = text[start:end]
        ids = _char_ids(table, chunk) if table is not None else tokenizer.encode(chunk)
        parts.append(np.asarray(ids, dtype=dtype))
        start = end
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
