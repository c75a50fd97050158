"""The AMI Meeting Corpus: manual annotations (NXT XML) or BUT "only_words" RTTMs to turns.

On-disk layout read here (AMI manual annotations 1.6.x and the audio mirror):

- ``words/<meeting>.<agent>.words.xml``: ``<w nite:id starttime endtime>`` words
  (``punc="true"`` marks punctuation), plus ``<vocalsound>``, ``<disfmarker>``,
  ``<gap>``, ``<pause>``, ``<comment>``... which are dropped here.
- ``segments/<meeting>.<agent>.segments.xml``: ``<segment transcriber_start
  transcriber_end>`` with a ``<nite:child href="...words.xml#id(a)..id(b)"/>``
  range of words.
- ``corpusResources/meetings.xml``: per meeting (``observation``) its
  ``<speaker nxt_agent global_name channel>``; ``corpusResources/participants.xml``:
  ``<participant nite:id=<global name> sex="M|F">``.  A global name's first
  letter is the participant's sex as well (AMI's participant id convention).
- audio ``amicorpus/<meeting>/audio/<meeting>.Array1-01.wav`` (SDM: first
  channel of array 1) and ``<meeting>.Mix-Headset.wav`` (IHM-mix).
- BUT's diarization setup (github BUTSpeechFIT/AMI-diarization-setup):
  ``only_words/rttms/{train,dev,test}/<meeting>.rttm`` with global speaker names.

Turns are word-level by default: the words of one speaker joined while the gap
between consecutive words is below ``max_pause`` seconds.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from espnet_tagspeech.corpora.nxt import Element, attr_float, parse_href, read_xml
from espnet_tagspeech.corpora.problems import Problems
from espnet_tagspeech.corpora.text import normalize_english_word
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import read_rttm
from espnet_tagspeech.data.turn import Turn, Word

PathLike = Union[str, Path]
logger = logging.getLogger(__name__)

SETS = ("train", "dev", "test")
MICS = {"sdm": "Array1-01", "ihm-mix": "Mix-Headset"}
"""Microphone setting -> the audio file's stream name."""
TURN_MODES = ("words", "segments")
_MEETING_RE = re.compile(r"^[A-Z]{2}\d{4}[a-z]?$")


@dataclass(frozen=True)
class Speaker:
    """A participant of one meeting."""

    meeting: str
    agent: str
    name: str
    gender: str = "u"
    channel: Optional[int] = None


@dataclass(frozen=True)
class NxtWord:
    """One element of a words file, kept in document order.

    ``text`` is the normalised word (``None`` for non-words, punctuation and
    words that normalise to nothing); ``word`` adds its times (``None`` also
    when the ``<w>`` has no times).
    """

    id: str
    line: int
    word: Optional[Word]
    text: Optional[str]


# ----------------------------------------------------------------------------- lists and metadata


def read_meeting_list(path: PathLike) -> List[str]:
    """Read a meeting id list (one id per line, ``#`` comments allowed).

    Raises:
        DataFormatError: on a malformed or repeated id, naming its line.
    """
    p = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataFormatError(p, None, "no such file") from None
    out: List[str] = []
    seen: Dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        if not _MEETING_RE.match(item):
            raise DataFormatError(p, n, f"not an AMI meeting id: {item!r}")
        if item in seen:
            raise DataFormatError(p, n, f"{item} listed twice (first on line {seen[item]})")
        seen[item] = n
        out.append(item)
    return out


def gender_of(name: str, sexes: Optional[Dict[str, str]] = None) -> str:
    """Gender ``m``/``f``/``u`` of a global participant name (participants.xml first)."""
    if sexes and name in sexes:
        return sexes[name]
    first = name[:1].upper()
    return {"M": "m", "F": "f"}.get(first, "u")


def read_participants(path: PathLike) -> Dict[str, str]:
    """Read ``participants.xml`` into {global name: ``m``/``f``/``u``}."""
    root = read_xml(path)
    out: Dict[str, str] = {}
    for el in root.children:
        if el.local_tag != "participant" or not el.id:
            continue
        sex = el.attrs.get("sex", "").strip().upper()
        out[el.id] = {"M": "m", "F": "f"}.get(sex[:1], "u")
    return out


def read_meetings(path: PathLike, sexes: Optional[Dict[str, str]] = None) -> Dict[Tuple[str, str], Speaker]:
    """Read ``meetings.xml`` into {(meeting, agent letter): Speaker}.

    Raises:
        DataFormatError: when a ``<speaker>`` lacks ``nxt_agent`` or ``global_name``.
    """
    p = str(path)
    root = read_xml(path)
    out: Dict[Tuple[str, str], Speaker] = {}
    for meeting in root.children:
        if meeting.local_tag != "meeting":
            continue
        obs = meeting.attrs.get("observation")
        if not obs:
            raise DataFormatError(p, meeting.line, f"{meeting.where()}: no observation attribute")
        for spk in meeting.children:
            if spk.local_tag != "speaker":
                continue
            agent, name = spk.attrs.get("nxt_agent"), spk.attrs.get("global_name")
            if not agent or not name or any(c.isspace() for c in name):
                raise DataFormatError(
                    p, spk.line, f"{spk.where()} of {obs}: needs nxt_agent and a global_name without spaces"
                )
            chan = spk.attrs.get("channel", "")
            out[(obs, agent)] = Speaker(
                obs, agent, name, gender_of(name, sexes), int(chan) if chan.isdigit() else None
            )
    return out


def find_annotations(corpus_dir: PathLike) -> Optional[Path]:
    """The manual annotations dir under ``corpus_dir`` (the one holding ``words/``)."""
    root = Path(corpus_dir)
    candidates = [root] + sorted(root.glob("ami_public_manual*"), reverse=True)
    for c in candidates:
        if (c / "words").is_dir():
            return c
    return None


def audio_path(corpus_dir: PathLike, meeting: str, mic: str) -> Path:
    """Where a meeting's audio for ``mic`` lives under the corpus dir."""
    if mic not in MICS:
        raise ValueError(f"mic must be one of {sorted(MICS)}, got {mic!r}")
    return Path(corpus_dir) / "amicorpus" / meeting / "audio" / f"{meeting}.{MICS[mic]}.wav"


# ----------------------------------------------------------------------------- words and turns


def read_words(path: PathLike, problems: Optional[Problems] = None) -> List[NxtWord]:
    """Read a words file: every element in document order (NXT ranges count them all).

    Only ``<w>`` elements carry text; vocal sounds, gaps, disfluency markers
    and punctuation get ``text=None``.  Malformed times (not numbers, negative, end before start) are problems;
    a word without times is kept with ``word=None`` (it cannot be placed).
    """
    problems = Problems() if problems is None else problems
    p = str(path)
    root = read_xml(path)
    out: List[NxtWord] = []
    for el in root.children:
        wid = el.id or f"{Path(p).name}:{el.line}"
        if el.local_tag != "w":
            out.append(NxtWord(wid, el.line, None, None))  # keeps NXT id ranges in document order
            continue
        text = normalize_english_word(el.text.strip()) if el.attrs.get("punc") != "true" else None
        try:
            start = attr_float(el, "starttime", p, required=False)
            end = attr_float(el, "endtime", p, required=False)
            if start is not None and end is not None and end < start:
                raise DataFormatError(p, el.line, f"{el.where()}: endtime {end:g} before starttime {start:g}")
        except DataFormatError as err:
            problems.report(err)
            continue
        word = Word(text, start, end) if text and start is not None and end is not None else None
        out.append(NxtWord(wid, el.line, word, text))
    return out


def join_words(
    words: Iterable[Word], recording: str, speaker: str, gender: str = "u", max_pause: float = 0.5
) -> List[Turn]:
    """Join a speaker's timed words into turns while the pause between words is < ``max_pause``.

    The pause is measured from the latest end so far (overlapping words join);
    it is rounded to microseconds, so a pause of exactly ``max_pause`` splits.
    """
    groups: List[List[Word]] = []
    end = 0.0
    for w in sorted(words, key=lambda w: (w.start, w.end)):
        if not w.timed:
            raise ValueError(f"join_words needs timed words, got {w.text!r} without times")
        start, stop = float(w.start), float(w.end)  # type: ignore[arg-type]
        if not groups or round(start - end, 6) >= max_pause:
            groups.append([])
            end = stop
        groups[-1].append(w)
        end = max(end, stop)
    turns = []
    for g in groups:
        last = max(float(w.end) for w in g)  # type: ignore[arg-type]
        turns.append(Turn(recording, speaker, float(g[0].start), last, tuple(g), gender))  # type: ignore[arg-type]
    return turns


def segment_turns(
    path: PathLike, words: Sequence[NxtWord], speaker: Speaker, problems: Optional[Problems] = None
) -> List[Turn]:
    """Turns from a segments file: transcriber times, the words of each href range."""
    problems = Problems() if problems is None else problems
    p = str(path)
    index = {w.id: i for i, w in enumerate(words)}
    turns: List[Turn] = []
    for seg in read_xml(path).children:
        if seg.local_tag != "segment":
            continue
        try:
            turns.extend(_one_segment(seg, p, words, index, speaker))
        except DataFormatError as err:
            problems.report(err)
    return turns


def _one_segment(
    seg: Element, path: str, words: Sequence[NxtWord], index: Dict[str, int], speaker: Speaker
) -> List[Turn]:
    start = attr_float(seg, "transcriber_start", path)
    end = attr_float(seg, "transcriber_end", path)
    if end < start:  # type: ignore[operator]
        raise DataFormatError(
            path, seg.line, f"{seg.where()}: transcriber_end {end:g} before transcriber_start {start:g}"
        )
    texts: List[Word] = []
    for child in seg.children:
        if child.local_tag != "child" or "href" not in child.attrs:
            continue
        _, first, last = parse_href(child.attrs["href"], path, child.line)
        for wid in (first, last):
            if wid not in index:
                raise DataFormatError(path, child.line, f"{seg.where()}: word id {wid!r} is not in the words file")
        lo, hi = index[first], index[last]
        if hi < lo:
            raise DataFormatError(path, child.line, f"{seg.where()}: word range {first}..{last} runs backwards")
        for w in words[lo : hi + 1]:
            if w.text:
                texts.append(w.word or Word(w.text))
    if not texts:
        return []
    timed = [w for w in texts if w.timed]
    t0 = min([start] + [w.start for w in timed])  # type: ignore[type-var]
    t1 = max([end] + [w.end for w in timed])  # type: ignore[type-var]
    return [Turn(speaker.meeting, speaker.name, t0, t1, tuple(texts), speaker.gender)]  # type: ignore[arg-type]


def speaker_of(meeting: str, agent: str, speakers: Dict[Tuple[str, str], Speaker]) -> Speaker:
    """The meeting's speaker with agent letter ``agent``; a local name when not in meetings.xml."""
    if (meeting, agent) in speakers:
        return speakers[(meeting, agent)]
    logger.warning("%s: agent %s is not in meetings.xml; speaker named %s_%s", meeting, agent, meeting, agent)
    return Speaker(meeting, agent, f"{meeting}_{agent}")


def meeting_agents(annotations: PathLike, meeting: str) -> List[str]:
    """Agent letters with a words file for ``meeting``."""
    files = sorted(Path(annotations, "words").glob(f"{meeting}.*.words.xml"))
    return [f.name[len(meeting) + 1 : -len(".words.xml")] for f in files]


def load_meeting_nxt(
    annotations: PathLike,
    meeting: str,
    speakers: Dict[Tuple[str, str], Speaker],
    mode: str = "words",
    max_pause: float = 0.5,
    problems: Optional[Problems] = None,
) -> List[Turn]:
    """All turns of one meeting from the manual annotations.

    Args:
        annotations: The manual annotations dir (with ``words/``, ``segments/``).
        meeting: Meeting id.
        speakers: From :func:`read_meetings`.
        mode: ``"words"`` (join words, see :func:`join_words`) or ``"segments"``
            (the transcribers' segments).
        max_pause: Pause that ends a word-level turn.
        problems: Policy for malformed entries (default: raise).

    Raises:
        DataFormatError: when the meeting has no words files, or on a malformed entry.
    """
    if mode not in TURN_MODES:
        raise ValueError(f"mode must be one of {TURN_MODES}, got {mode!r}")
    problems = Problems() if problems is None else problems
    agents = meeting_agents(annotations, meeting)
    if not agents:
        raise DataFormatError(str(Path(annotations, "words")), None, f"no {meeting}.*.words.xml files")
    turns: List[Turn] = []
    for agent in agents:
        spk = speaker_of(meeting, agent, speakers)
        words = read_words(Path(annotations, "words", f"{meeting}.{agent}.words.xml"), problems)
        if mode == "words":
            timed = [w.word for w in words if w.word is not None]
            untimed = sum(1 for w in words if w.text and w.word is None)
            if untimed:
                logger.debug("%s.%s: %d words without times skipped", meeting, agent, untimed)
            turns.extend(join_words(timed, meeting, spk.name, spk.gender, max_pause))
        else:
            seg_file = Path(annotations, "segments", f"{meeting}.{agent}.segments.xml")
            turns.extend(segment_turns(seg_file, words, spk, problems))
    return turns


def meeting_words(
    annotations: PathLike, meeting: str, speakers: Dict[Tuple[str, str], Speaker], problems: Optional[Problems] = None
) -> Dict[str, List[Word]]:
    """Timed words of a meeting by global speaker name."""
    out: Dict[str, List[Word]] = {}
    for agent in meeting_agents(annotations, meeting):
        spk = speaker_of(meeting, agent, speakers)
        words = read_words(Path(annotations, "words", f"{meeting}.{agent}.words.xml"), problems)
        out.setdefault(spk.name, []).extend(w.word for w in words if w.word is not None)
    return out


# ----------------------------------------------------------------------------- BUT RTTMs


def find_rttm(rttm_dir: PathLike, meeting: str) -> Optional[Path]:
    """``<meeting>.rttm`` directly in ``rttm_dir`` or in its train/dev/test subdirs."""
    for sub in ("",) + SETS:
        p = Path(rttm_dir, sub, f"{meeting}.rttm")
        if p.is_file():
            return p
    return None


def load_meeting_rttm(
    path: PathLike,
    meeting: str,
    sexes: Optional[Dict[str, str]] = None,
    words: Optional[Dict[str, List[Word]]] = None,
) -> List[Turn]:
    """Turns of one meeting from a BUT RTTM, optionally with the manual words attached.

    A word goes to the first turn of its speaker that holds the word's midpoint.

    Raises:
        DataFormatError: on a malformed line, or when the file names another recording.
    """
    out: List[Turn] = []
    rttm = read_rttm(path)
    for t in rttm:
        if t.recording != meeting:
            raise DataFormatError(str(path), None, f"file of {meeting} holds a turn of {t.recording!r}")
    for t in sorted(rttm, key=lambda t: (t.speaker, t.start, t.end)):
        out.append(Turn(meeting, t.speaker, t.start, t.end, (), gender_of(t.speaker, sexes)))
    if not words:
        return out
    by_spk: Dict[str, List[int]] = {}
    for i, t in enumerate(out):
        by_spk.setdefault(t.speaker, []).append(i)
    attached: Dict[int, List[Word]] = {}
    for spk, spk_words in words.items():
        idx = by_spk.get(spk, [])
        for w in sorted(spk_words, key=lambda w: (w.start, w.end)):
            mid = (w.start + w.end) / 2  # type: ignore[operator]
            for i in idx:
                if out[i].start - 1e-6 <= mid <= out[i].end + 1e-6:
                    attached.setdefault(i, []).append(w)
                    break
    return [
        Turn(t.recording, t.speaker, t.start, t.end, tuple(attached.get(i, ())), t.gender) for i, t in enumerate(out)
    ]
