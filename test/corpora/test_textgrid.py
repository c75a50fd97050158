"""Tests of espnet_tagspeech.corpora.textgrid: Praat long and short text formats."""

from pathlib import Path

import pytest
from corpus_fixtures import ALI_TRAIN_TIERS, textgrid_long, textgrid_short

from espnet_tagspeech.corpora.textgrid import parse_textgrid, read_textgrid
from espnet_tagspeech.data.errors import DataFormatError

TIERS = [
    ("Mary", [(0, 0.7, ""), (0.7, 1.5, 'she said "hi"\nthen left'), (1.5, 2.5, "bye")]),
    ("John", [(0, 2.5, "")]),
]


def _as_tuples(tg):
    return [(t.name, [(iv.xmin, iv.xmax, iv.text) for iv in t.intervals]) for t in tg.tiers]


@pytest.mark.parametrize("writer", [textgrid_long, textgrid_short])
def test_both_formats_give_the_same_grid(writer):
    text = writer(2.5, TIERS)
    assert '"she said ""hi""' in text  # a quote inside a string is written doubled
    tg = parse_textgrid(text, "x.TextGrid")
    assert (tg.xmin, tg.xmax) == (0.0, 2.5)
    assert [t.kind for t in tg.tiers] == ["IntervalTier", "IntervalTier"]
    expected = [(name, [(float(a), float(b), text) for a, b, text in ivs]) for name, ivs in TIERS]
    assert _as_tuples(tg) == expected
    assert [iv.text for iv in tg.tier("Mary").nonempty_intervals()] == ['she said "hi"\nthen left', "bye"]


def test_line_numbers_point_at_intervals():
    text = textgrid_long(2.5, TIERS)
    tg = parse_textgrid(text)
    lines = text.split("\n")
    for iv in tg.tier("Mary").intervals:
        assert lines[iv.line - 1].strip() == f"xmin = {iv.xmin:g}"


def test_alimeeting_style_long_file_with_empty_intervals(tmp_path: Path):
    path = tmp_path / "R0001_M0001.TextGrid"
    path.write_text(textgrid_long(5.0, ALI_TRAIN_TIERS), encoding="utf-8")
    tg = read_textgrid(path)
    assert [t.name for t in tg.tiers] == ["R0001_M0001_F_SPK0001", "R0001_M0001_M_SPK0002"]
    assert [iv.text for iv in tg.tiers[0].nonempty_intervals()] == ["你好，世界。", "<sil>", "ＯＫ好的"]
    assert len(tg.tiers[1].nonempty_intervals()) == 1  # " " is blank


def test_utf16_with_bom_and_utf8_bom(tmp_path: Path):
    text = textgrid_short(2.5, TIERS)
    for enc in ("utf-16", "utf-8-sig"):
        path = tmp_path / f"g.{enc}.TextGrid"
        path.write_bytes(text.encode(enc))
        assert _as_tuples(read_textgrid(path)) == _as_tuples(parse_textgrid(text))


def test_text_tier_points_and_absent_tiers():
    text = (
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 3\ntiers? <exists>\n'
        'size = 1\nitem []:\n    item [1]:\n        class = "TextTier"\n        name = "bell"\n'
        "        xmin = 0\n        xmax = 3\n        points: size = 2\n"
        '        points [1]:\n            number = 1.5\n            mark = "ding"\n'
        '        points [2]:\n            number = 2.25\n            mark = "dong"\n'
    )
    tg = parse_textgrid(text)
    assert [(p.time, p.mark) for p in tg.tier("bell").points] == [(1.5, "ding"), (2.25, "dong")]
    empty = parse_textgrid('File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n1\n<absent>\n')
    assert empty.tiers == [] and empty.xmax == 1.0


@pytest.mark.parametrize(
    "old, new, back, message",
    [
        ("xmax = 1.5 ", "xmax = abc ", 0, "value of 'xmax' is not a number or string: 'abc'"),
        ("xmax = 1.5 ", "xmax = 0.2 ", 0, "interval ends (0.2) before it starts (0.7)"),
        ("xmin = 1.5 ", "xmin = 1.2 ", 0, "overlaps the previous one"),
        ('text = "bye" ', "text = bye ", 0, "not a number or string: 'bye'"),
        # an interval past the tier's end is reported at the interval's xmin, a line up
        ('xmax = 2.5 \n            text = "bye"', 'xmax = 4 \n            text = "bye"', 1, "lies outside the tier"),
        ('Object class = "TextGrid"', 'Object class = "Pitch"', 0, "expected 'TextGrid'"),
    ],
)
def test_malformed_long_format_names_the_line(tmp_path: Path, old, new, back, message):
    text = textgrid_long(2.5, TIERS)
    assert old in text
    bad = text.replace(old, new, 1)
    line = bad[: bad.index(new)].count("\n") + 1 - back
    path = tmp_path / "bad.TextGrid"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_textgrid(path)
    assert err.value.path == str(path)
    assert err.value.line == line
    assert message in str(err.value)


def test_truncated_file_and_unclosed_string():
    text = textgrid_long(2.5, TIERS)
    with pytest.raises(DataFormatError, match="file ends where interval xmin was expected"):
        parse_textgrid(text.replace("intervals: size = 1", "intervals: size = 2", 1))
    with pytest.raises(DataFormatError, match="interval xmin must be a number, got '\"IntervalTier\"'"):
        parse_textgrid(text.replace("intervals: size = 3", "intervals: size = 4", 1))
    last = text.rstrip().rsplit("\n", 1)[0] + '\n            text = "unclosed\n'
    with pytest.raises(DataFormatError, match=f":{last.count(chr(10))}: string is never closed"):
        parse_textgrid(last)


def test_malformed_short_format_unquoted_text_and_bad_count():
    text = textgrid_short(2.5, TIERS)
    bad = text.replace('"bye"', "bye")
    line = bad[: bad.index("bye\n")].count("\n") + 1
    with pytest.raises(DataFormatError, match=rf"s\.TextGrid:{line}: unquoted text 'bye'"):
        parse_textgrid(bad, "s.TextGrid")
    with pytest.raises(DataFormatError, match="whole number"):
        parse_textgrid(text.replace("\n3\n", "\n1.5\n", 1))


def test_missing_file_and_bad_bytes(tmp_path: Path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_textgrid(tmp_path / "none.TextGrid")
    bad = tmp_path / "latin.TextGrid"
    bad.write_bytes(textgrid_short(2.5, TIERS).encode() + b'"caf\xe9"\n')
    with pytest.raises(DataFormatError, match="not UTF-8"):
        read_textgrid(bad)
