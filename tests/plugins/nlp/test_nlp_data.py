"""Text loading and the contiguous split."""

import pytest
from rnnsuite.core import UserError
from rnnsuite.plugins.nlp.data import (
    contiguous_split,
    load_corpus,
    parse_split,
    read_corpus,
    read_text,
)


def test_read_text_normalises_line_ends_and_drops_bom(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes("\ufeffone\r\ntwo\rthree\n".encode("utf-8"))
    assert read_text(f) == "one\ntwo\nthree\n"


def test_undecodable_byte_names_its_offset(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"hello \xff world")
    with pytest.raises(UserError, match=r"bad.txt: .*byte offset 6"):
        read_text(f)


def test_offset_counts_bytes_not_characters(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes("é".encode("utf-8") + b"\xc3(")  # é is two bytes; \xc3( is invalid at 2
    with pytest.raises(UserError, match="byte offset 2"):
        read_text(f)


def test_binary_file_is_an_error_with_offset(tmp_path):
    f = tmp_path / "blob.txt"
    f.write_bytes(b"abc\x00\x01\x02")
    with pytest.raises(UserError, match=r"blob.txt: looks binary.*byte offset 3"):
        read_text(f)


def test_encoding_option_reads_latin1(tmp_path):
    f = tmp_path / "l1.txt"
    f.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(UserError):
        read_text(f)
    assert read_text(f, "latin-1") == "café\n"


def test_unknown_encoding_is_a_user_error(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    with pytest.raises(UserError, match="--encoding"):
        read_text(f, "no-such-codec")


def test_folder_reads_txt_and_md_in_sorted_order_and_skips_notes(tmp_path):
    (tmp_path / "b.md").write_text("second")
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("third\n")
    (tmp_path / "PROVENANCE.md").write_text("where it came from\n")
    (tmp_path / "README.txt").write_text("readme\n")
    (tmp_path / ".hidden.txt").write_text("hidden\n")
    (tmp_path / "data.csv").write_text("1,2\n")
    assert read_corpus(tmp_path) == "first\nsecond\nthird\n"


def test_empty_and_missing_inputs_are_user_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(UserError, match="empty.txt: the text is empty"):
        read_corpus(tmp_path / "empty.txt")
    with pytest.raises(UserError, match="nope.txt: no such"):
        read_corpus(tmp_path / "nope.txt")
    (tmp_path / "dir").mkdir()
    with pytest.raises(UserError, match="holds no"):
        read_corpus(tmp_path / "dir")


def test_contiguous_split_keeps_order_and_cuts_at_line_ends():
    lines = [f"line {i:03d}\n" for i in range(200)]  # 9 characters each
    text = "".join(lines)
    train, valid, test = contiguous_split(text, (0.9, 0.05, 0.05))
    assert train + valid + test == text
    assert train == "".join(lines[:180])
    assert valid == "".join(lines[180:190])
    assert test == "".join(lines[190:])


def test_parse_split_normalises_and_rejects_nonsense():
    assert parse_split("0.9,0.1,0") == pytest.approx((0.9, 0.1, 0.0))
    assert parse_split([8, 1, 1]) == pytest.approx((0.8, 0.1, 0.1))
    for bad in ("0.9,0.1", "a,b,c", "0,1,0", "-1,1,1"):
        with pytest.raises(UserError, match="split"):
            parse_split(bad)


def test_separate_valid_file_leaves_train_and_test_from_data(tmp_path):
    data = tmp_path / "train.txt"
    data.write_text("".join(f"{i}\n" for i in range(100)))
    valid = tmp_path / "valid.txt"
    valid.write_text("held out\n")
    corpus = load_corpus(data, valid=str(valid), split="0.9,0.05,0.05")
    assert corpus.valid == "held out\n"
    assert corpus.train + corpus.test == data.read_text()
    assert 0 < len(corpus.test) < len(corpus.train)
    both = load_corpus(data, valid=str(valid), test=str(valid))
    assert both.train == data.read_text()


def test_auto_split_holds_nothing_out_of_data_when_a_validation_file_is_given(tmp_path):
    data = tmp_path / "train.txt"
    data.write_text("".join(f"{i}\n" for i in range(100)))
    valid = tmp_path / "valid.txt"
    valid.write_text("held out\n")
    corpus = load_corpus(data, valid=str(valid))              # split "auto", the default
    assert corpus.train == data.read_text() and corpus.test == ""
    alone = load_corpus(data)                                  # auto without one: 0.9/0.05/0.05
    assert alone.train + alone.valid + alone.test == data.read_text()
    assert 0 < len(alone.valid) < len(alone.train) and 0 < len(alone.test) < len(alone.train)
    only_test = load_corpus(data, test=str(valid))             # validation still carved
    assert only_test.test == "held out\n" and 0 < len(only_test.valid) < len(only_test.train)


def test_describe_split_says_what_went_where(tmp_path):
    from rnnsuite.plugins.nlp.data import Corpus, describe_split

    line = describe_split(Corpus("a" * 1200, "bb", ""), "train.txt", valid="valid.txt")
    assert line == ("nlp: 1,200 characters to train from train.txt; validation 2 from valid.txt; "
                    "no test part")
    line = describe_split(Corpus("a" * 90, "b" * 5, "c" * 5), "train.txt")
    assert line.endswith("validation 5 held out of DATA; test 5 held out of DATA")
