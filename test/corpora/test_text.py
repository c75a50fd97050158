"""Tests of espnet_tagspeech.corpora.text: English word and Mandarin normalisation."""

import pytest

from espnet_tagspeech.corpora.text import (
    is_punctuation,
    normalize_english,
    normalize_english_word,
    normalize_mandarin,
    to_halfwidth,
)


@pytest.mark.parametrize(
    "word, expected",
    [
        ("Okay", "OKAY"),
        ("that's", "THAT'S"),
        ("T_V_", "TV"),
        ("recog-", "RECOG"),
        ("Mm-hmm", "MM-HMM"),
        ("a--b", "A-B"),
        ("'cause", "CAUSE"),
        ("ok.", "OK"),
        ("?", None),
        ("", None),
        ("--", None),
        ("café", "CAFÉ"),
        ("ＯＫ", "OK"),
    ],
)
def test_english_word(word, expected):
    assert normalize_english_word(word) == expected


def test_english_transcript_drops_punctuation_tokens():
    assert normalize_english("Uh , no that's okay . Sorry !") == ["UH", "NO", "THAT'S", "OKAY", "SORRY"]


def test_halfwidth_maps_fullwidth_forms_and_ideographic_space():
    assert to_halfwidth("ＡＢｃ１２！\u3000Ｘ") == "ABc12! X"
    assert to_halfwidth("你好") == "你好"


def test_punctuation_covers_chinese_and_ascii():
    for c in "，。！？、；：“”（）《》,.!?;:\"'()-&`~":
        assert is_punctuation(c), c
    for c in "你A1":
        assert not is_punctuation(c), c


@pytest.mark.parametrize(
    "text, expected",
    [
        ("你好，世界。", ["你", "好", "世", "界"]),
        ("<sil>嗯<%>对<->", ["嗯", "对"]),
        ("ＯＫ好的", ["OK", "好", "的"]),
        ("我用ipad看", ["我", "用", "IPAD", "看"]),
        ("3点半", ["3", "点", "半"]),
        ("“引号”《书名》、顿号；", ["引", "号", "书", "名", "顿", "号"]),
        ("don't 说", ["DON'T", "说"]),
        ("  ", []),
        ("<sil>", []),
        ("，。！", []),
        ("a&b`c", ["A", "B", "C"]),
    ],
)
def test_mandarin(text, expected):
    assert normalize_mandarin(text) == expected


def test_mandarin_tokens_have_no_whitespace_or_punctuation():
    tokens = normalize_mandarin("今天，我们（大家）开会——讨论ＡＩ！\u3000好吗？")
    assert tokens == ["今", "天", "我", "们", "大", "家", "开", "会", "讨", "论", "AI", "好", "吗"]
    assert all(t and not any(c.isspace() or is_punctuation(c) for c in t) for t in tokens)
