"""The sentencepiece tokenizer trained on targets, and the prompt layout."""

import pytest

from espnet_tagspeech.bin.train_tokenizer import main as train_main
from espnet_tagspeech.data.targets import read_targets
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.model.llm import prompt_pieces
from espnet_tagspeech.model.tokenizer import SentencePieceTokenizer, build_tokenizer
from espnet_tagspeech.serialization import serialize, target_to_line


@pytest.fixture(scope="module")
def spm(tmp_path_factory):
    work = tmp_path_factory.mktemp("tok")
    cuts = [
        [Turn.from_text("a", "X", 0.0, 1.25, "GOOD MORNING", "f"), Turn.from_text("a", "Y", 1.0, 3.5, "HI", "m")],
        [Turn.from_text("b", "X", 0.3, 0.9, "YES", "u")],
    ]
    targets = [serialize(c) for c in cuts]
    (work / "text").write_text("".join(f"k{i} {target_to_line(t)}\n" for i, t in enumerate(targets)))
    train_main(["--text", str(work / "text"), "--out_dir", str(work / "tok"), "--vocab_size", "60"])
    return SentencePieceTokenizer(str(work / "tok" / "tokenizer.model")), targets, work


def test_round_trip_and_single_digit_pieces(spm):
    tok, targets, _ = spm
    for t in targets:
        assert tok.decode(tok.encode(t)) == t
    digits = tok.digit_ids()
    assert len(set(digits)) == 10
    assert tok.encode("1207") == [digits[1], digits[2], digits[0], digits[7]]
    # unseen words and markup stay representable piece by piece
    assert tok.decode(tok.encode('<spk id="9" g="m" t="1.00-2.00"/>')) == '<spk id="9" g="m" t="1.00-2.00"/>'
    assert tok.decode(tok.encode("a\nb") + [tok.eos_id]).endswith("\nb")


def test_plain_prompt_layout(spm):
    tok, _, _ = spm
    head, mid, tail = prompt_pieces(tok, "Who spoke?")
    assert tok.decode(head) == "Who spoke?\n<text>"
    assert tok.decode(mid) == "</text>\n<speaker>"
    assert tok.decode(tail) == "</speaker>\nAnswer:\n"
    # no instruction (mini recipe): the prompt head is just the opening of the text block
    head, _, _ = prompt_pieces(tok, "")
    assert tok.decode(head) == "\n<text>" and len(head) <= 3


def test_build_tokenizer_picks_sentencepiece(spm):
    _, _, work = spm
    assert isinstance(build_tokenizer(str(work / "tok" / "tokenizer.model")), SentencePieceTokenizer)
    with pytest.raises(ValueError, match="llm_conf needs"):
        build_tokenizer(None, None)
    with pytest.raises(FileNotFoundError):
        build_tokenizer(str(work / "missing.model"))


def test_text_without_target_names_file_and_line(tmp_path):
    bad = tmp_path / "text"
    bad.write_text("k1 <text>\\n</text>\nk2\n")
    with pytest.raises(DataFormatError, match=r"text:2: key 'k2' has no target"):
        read_targets(str(bad))


def test_decode_remembers_partial_answers_and_takes_tensors(spm, monkeypatch):
    import torch

    tok, targets, _ = spm
    ids = tok.encode(targets[0])
    calls = []
    real = tok._decode
    monkeypatch.setattr(tok, "_decode", lambda x: calls.append(list(x)) or real(x))
    tok.__dict__.pop("_memo", None)
    first = tok.decode(ids)
    assert first == targets[0] and calls == [ids]
    # the same ids as a list, a tensor or numpy ints: answered from memory
    assert tok.decode(torch.tensor(ids)) == tok.decode([int(i) for i in ids]) == first
    assert len(calls) == 1
    assert tok.decode(ids[:-1]) != first and len(calls) == 2
    # bounded: a full memory starts over
    monkeypatch.setattr(type(tok), "_MEMO_SIZE", 2)
    tok.decode(ids[:-2])
    assert len(tok._memo) == 1 and tok.decode(ids) == first and len(calls) == 4


def test_training_twice_on_the_same_text_gives_the_same_file(spm, tmp_path):
    # the model must not record the random work dir it was trained in
    _, _, work = spm
    train_main(["--text", str(work / "text"), "--out_dir", str(tmp_path / "again"), "--vocab_size", "60"])
    first = (work / "tok" / "tokenizer.model").read_bytes()
    assert (tmp_path / "again" / "tokenizer.model").read_bytes() == first
    assert b".tokenizer." not in first
