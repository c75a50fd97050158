"""AliMeeting (M2MeT) far-field sessions: TextGrid transcripts to turns.

On-disk layout (openslr.org/119 archives ``Train_Ali_far.tar.gz``,
``Eval_Ali.tar.gz``, ``Test_Ali.tar.gz``)::

    Train_Ali_far/audio_dir/R0003_M0046_MS002.wav        8-channel far-field array
    Train_Ali_far/textgrid_dir/R0003_M0046.TextGrid      one tier per speaker
    Eval_Ali/Eval_Ali_far/...   (or Eval_Ali_far/ directly), Test_Ali/Test_Ali_far/...

A session id is the TextGrid's name (``R<room>_M<meeting>``); its audio is the one
``<session>*.wav`` in ``audio_dir``.  Tier names are ``R0003_M0046_F_SPK0093``
(or ``F_SPK0093``): the speaker id is the ``SPK`` part, the letter before it the
gender.  Each non-empty interval is one turn; its text is normalised for
character-level scoring (:func:`~espnet_tagspeech.corpora.text.normalize_mandarin`).
AliMeeting has no word times, so words carry none.
"""

import logging
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from espnet_tagspeech.corpora.problems import Problems
from espnet_tagspeech.corpora.text import normalize_mandarin
from espnet_tagspeech.corpora.textgrid import TextGrid, read_textgrid
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.turn import Turn, Word

PathLike = Union[str, Path]
logger = logging.getLogger(__name__)

PARTS = {"train": "Train", "eval": "Eval", "test": "Test"}
"""Data set name -> the corpus's part name."""
_TIER_RE = re.compile(r"^(?:(?P<room>R\d+)_(?P<meeting>M\d+)_)?(?P<gender>[MFmf])_(?P<spk>SPK\d+)$")


def find_part_dir(corpus_dir: PathLike, part: str, mic: str = "far") -> Optional[Path]:
    """``<Part>_Ali_<mic>`` directly under ``corpus_dir`` or inside ``<Part>_Ali/``."""
    name = f"{part}_Ali_{mic}"
    for cand in (Path(corpus_dir, name), Path(corpus_dir, f"{part}_Ali", name)):
        if (cand / "textgrid_dir").is_dir():
            return cand
    return None


def parse_tier_name(name: str) -> Tuple[str, str]:
    """``(speaker, gender)`` of a tier name; other names are kept whole with gender ``u``.

    ``"R0003_M0046_F_SPK0093"`` -> ``("SPK0093", "f")``.
    """
    m = _TIER_RE.match(name.strip())
    if m:
        return m.group("spk"), m.group("gender").lower()
    speaker = re.sub(r"\s+", "_", name.strip())
    return speaker, "u"


def session_audio(part_dir: PathLike, session: str) -> Path:
    """The one ``<session>*.wav`` of a session in ``audio_dir``.

    Raises:
        DataFormatError: when there is none or more than one.
    """
    audio_dir = Path(part_dir, "audio_dir")
    found = sorted(p for p in audio_dir.glob(f"{session}*.wav") if p.is_file())
    if not found:
        raise DataFormatError(str(audio_dir), None, f"no {session}*.wav for session {session}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataFormatError(str(audio_dir), None, f"several wav files for session {session}: {names}")
    return found[0]


def textgrid_turns(tg: TextGrid, recording: str, problems: Optional[Problems] = None) -> List[Turn]:
    """Turns of one session: every interval with text left after normalisation.

    A speaker named by two tiers is an error (its turns would be merged unseen).
    """
    problems = Problems() if problems is None else problems
    turns: List[Turn] = []
    seen: Dict[str, int] = {}
    for tier in tg.tiers:
        if tier.kind != "IntervalTier":
            continue
        speaker, gender = parse_tier_name(tier.name)
        if speaker in seen:
            problems.report(
                DataFormatError(tg.path, tier.line, f"speaker {speaker} already has a tier (line {seen[speaker]})")
            )
            continue
        seen[speaker] = tier.line
        for iv in tier.intervals:
            tokens = normalize_mandarin(iv.text)
            if not tokens:
                continue
            if iv.xmax <= iv.xmin:
                problems.report(DataFormatError(tg.path, iv.line, f"tier {tier.name!r}: empty time span with text"))
                continue
            turns.append(Turn(recording, speaker, iv.xmin, iv.xmax, tuple(Word(t) for t in tokens), gender))
    return turns


def load_session(textgrid: PathLike, problems: Optional[Problems] = None) -> List[Turn]:
    """Read one session's TextGrid into turns (recording id = the file's stem).

    Raises:
        DataFormatError: when the file is malformed (strict ``problems``).
    """
    problems = Problems() if problems is None else problems
    session = Path(textgrid).name.split(".")[0]
    try:
        tg = read_textgrid(textgrid)
    except DataFormatError as err:
        problems.report(err)
        return []
    return textgrid_turns(tg, session, problems)


def list_sessions(part_dir: PathLike) -> List[Path]:
    """TextGrid files of a part, sorted by session id."""
    return sorted(Path(part_dir, "textgrid_dir").glob("*.TextGrid"))
