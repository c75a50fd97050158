"""Tests of the token n-gram LM (espnet_tagspeech/decode/ctc/ngram.py) and its training CLI."""

import math

import pytest

from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM

LINES = [[1, 2, 3, 0], [1, 2, 4, 0], [1, 2, 3, 0], [5, 0]]  # 0 ends a line


def test_probabilities_sum_to_one_for_every_history():
    lm = TokenNgramLM.train(LINES, order=3, vocab_size=7)
    for hist in ([], [1], [1, 2], [2, 3], [6, 6], [5]):
        total = sum(math.exp(lm.logprob(hist, t)) for t in range(7))
        assert total == pytest.approx(1.0, abs=1e-9), hist


def test_seen_continuations_beat_unseen_ones():
    lm = TokenNgramLM.train(LINES, order=3, vocab_size=7)
    assert lm.logprob([1, 2], 3) > lm.logprob([1, 2], 4) > lm.logprob([1, 2], 5)
    assert lm.logprob([], 1) > lm.logprob([], 2)  # lines start with 1
    assert lm.logprob([3], 0) > lm.logprob([3], 1)  # 3 ends lines
    # a never-seen token still has a finite score
    assert math.isfinite(lm.logprob([1, 2], 6))
    # only the last order-1 tokens count
    assert lm.logprob([9, 9, 1, 2], 3) == lm.logprob([1, 2], 3)


def test_unigram_model_and_bad_input():
    lm = TokenNgramLM.train(LINES, order=1, vocab_size=7)
    assert lm.logprob([1, 2], 0) == lm.logprob([], 0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        TokenNgramLM.train([[1, 9]], order=2, vocab_size=7)
    with pytest.raises(ValueError, match="order"):
        TokenNgramLM.train(LINES, order=0, vocab_size=7)


def test_save_load_round_trip_and_garbage(tmp_path):
    lm = TokenNgramLM.train(LINES, order=3, vocab_size=7)
    lm.save(tmp_path / "lm.json")
    back = TokenNgramLM.load(tmp_path / "lm.json")
    for hist in ([], [1, 2], [4]):
        for t in range(7):
            assert back.logprob(hist, t) == lm.logprob(hist, t)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a token n-gram LM"):
        TokenNgramLM.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="other.json"):
        TokenNgramLM.load(tmp_path / "other.json")


def test_cli_trains_on_the_text_lines_of_targets(tmp_path):
    from espnet_tagspeech.bin.train_ngram import line_labels, main
    from espnet_tagspeech.model.tokenizer import train_sentencepiece
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.model.tokenizer import SentencePieceTokenizer

    text = tmp_path / "text"
    text.write_text(
        "c1 <text>\\n0.00-1.00>we need more samples\\n0.50-0.90>okay\\n</text>\\n<speaker>\\n"
        '<spk id="1" g="f" t="0.00-1.00"/>\\n<spk id="2" g="m" t="0.50-0.90"/>\\n</speaker>\n'
    )
    from espnet_tagspeech.data.targets import read_targets

    model = train_sentencepiece(read_targets(str(text)), str(tmp_path / "tok"), 150)
    tok = SentencePieceTokenizer(model)
    lines = line_labels(str(text), tok)
    assert [tok.decode(x) for x in lines] == [" we need more samples\n", " okay\n"]
    main(["--text", str(text), "--tokenizer", model, "--order", "2", "--out", str(tmp_path / "lm.json")])
    lm = TokenNgramLM.load(tmp_path / "lm.json")
    assert lm.vocab_size == tok.vocab_size and lm.order == 2
    bad = tmp_path / "bad_text"
    bad.write_text(text.read_text() + "c2 <text>\\ngarbage\n")
    with pytest.raises(DataFormatError, match=r"bad_text:2: key 'c2'"):
        line_labels(str(bad), tok)
