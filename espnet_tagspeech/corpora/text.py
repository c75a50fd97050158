"""Transcript normalisation for the corpora: English words (AMI) and Mandarin (AliMeeting).

English: one annotated word at a time, upper case, punctuation removed except
apostrophes inside a word (``THAT'S``) and hyphens joining two parts
(``MM-HMM``); AMI's letter-sequence underscores (``T_V_``) are dropped.

Mandarin: markup tokens such as ``<sil>`` or ``<%>`` removed, full-width forms
mapped to half-width (NFKC), punctuation of every script removed, Latin letters
upper-cased, then split into tokens for character-level scoring (cpCER): every
Han character (and any other non-Latin letter) is one token, while runs of
Latin letters and digits stay whole words.
"""

import re
import unicodedata
from typing import List, Optional

_MARKUP_RE = re.compile(r"<[^<>\s]*>")
_LONE_JOINER = re.compile(r"(?<=['-])['-]+|(?<!\w)['-]+|['-]+(?![\w'-])")
_LATIN_RUN = re.compile(r"[A-Z0-9]+(?:'[A-Z0-9]+)*")


def is_punctuation(char: str) -> bool:
    """Whether ``char`` is punctuation or a symbol (Unicode categories P* and S*)."""
    return unicodedata.category(char)[0] in "PS"


def to_halfwidth(text: str) -> str:
    """Map full-width letters, digits, punctuation and the ideographic space to half-width."""
    out = []
    for char in text:
        code = ord(char)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(char)
    return unicodedata.normalize("NFKC", "".join(out))


def normalize_english_word(word: str) -> Optional[str]:
    """Normalise one annotated English word; ``None`` when nothing is left.

    Examples: ``"Okay"`` -> ``"OKAY"``, ``"that's"`` -> ``"THAT'S"``,
    ``"T_V_"`` -> ``"TV"``, ``"recog-"`` -> ``"RECOG"``, ``"?"`` -> ``None``.
    """
    word = to_halfwidth(word).upper().replace("_", "")
    kept = "".join(c for c in word if c.isalnum() or c in "'-")
    # A hyphen or apostrophe survives only between two letters or digits.
    kept = _LONE_JOINER.sub("", kept)
    return kept or None


def normalize_english(text: str) -> List[str]:
    """Normalise a whitespace-separated English transcript into words."""
    words = (normalize_english_word(w) for w in text.split())
    return [w for w in words if w]


def normalize_mandarin(text: str) -> List[str]:
    """Normalise a Mandarin transcript into scoring tokens (see the module doc).

    Example: ``"<sil>你好，ＡＢ的 ok。"`` -> ``["你", "好", "AB", "的", "OK"]``.
    """
    text = _MARKUP_RE.sub(" ", text)
    text = to_halfwidth(text).upper()
    tokens: List[str] = []
    for chunk in text.split():
        chunk = "".join(" " if is_punctuation(c) and c != "'" else c for c in chunk)
        for piece in chunk.split():
            tokens.extend(_split_piece(piece))
    return tokens


def _split_piece(piece: str) -> List[str]:
    """Split a punctuation-free piece into Latin/digit words and single other letters."""
    out: List[str] = []
    i = 0
    while i < len(piece):
        m = _LATIN_RUN.match(piece, i)
        if m:
            out.append(m.group(0))
            i = m.end()
            continue
        char = piece[i]
        if char.isalnum():
            out.append(char)
        i += 1
    return out
