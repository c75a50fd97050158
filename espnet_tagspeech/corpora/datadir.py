"""Write a corpus's recordings and turns as a recipe's Kaldi data dir.

One utterance per turn.  Files written (sorted, atomically): ``wav.scp``,
``segments``, ``utt2spk``, ``spk2utt``, ``text``, ``reco2dur``, ``rttm``,
``uem`` (each whole recording), ``ref.seglst.json`` (turn level, with text,
what scoring reads), ``spk2gender`` / ``utt2gender`` when any gender is known,
and ``words.ctm`` (speaker as channel) when every word has times.

Utterance ids are ``<speaker>-<recording>-<start cs>-<end cs>`` (centiseconds,
7 digits), so a speaker's utterances are contiguous in sorted order as Kaldi's
per-speaker tools want.
"""

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, NamedTuple, Sequence, Union

from espnet_tagspeech.data.formats import write_ctm, write_seglst
from espnet_tagspeech.data.kaldi import KaldiDataDir, Segment
from espnet_tagspeech.data.turn import Turn, Word, sort_turns

PathLike = Union[str, Path]
logger = logging.getLogger(__name__)


class Recording(NamedTuple):
    """One recording of a data dir.

    Args:
        id: Recording id (no whitespace).
        wav: The ``wav.scp`` value: a path or a ``cmd |`` pipe.
        duration: Length in seconds.
    """

    id: str
    wav: str
    duration: float


@dataclass
class DirStats:
    """What :func:`write_corpus_dir` wrote and dropped."""

    recordings: int = 0
    utterances: int = 0
    speakers: int = 0
    hours: float = 0.0
    clipped: int = 0
    dropped: int = 0
    words_ctm: bool = False

    def summary(self) -> str:
        """One line for the log."""
        text = (
            f"{self.recordings} recordings, {self.utterances} turns, {self.speakers} speakers, "
            f"{self.hours:.2f} h of turns"
        )
        if self.clipped or self.dropped:
            text += f" ({self.clipped} clipped to the audio's end, {self.dropped} dropped: empty or past the end)"
        return text


def utterance_id(turn: Turn) -> str:
    """The utterance id of a turn (see the module doc)."""
    return (
        f"{turn.speaker}-{turn.recording}-"
        f"{int(round(turn.start * 100)):07d}-{int(round(turn.end * 100)):07d}"
    )


def _clip(turn: Turn, duration: float) -> Turn:
    """The turn cut at ``duration`` (its words too)."""
    words = []
    for w in turn.words:
        if w.timed and w.start >= duration:  # type: ignore[operator]
            continue
        if w.timed and w.end > duration:  # type: ignore[operator]
            w = Word(w.text, w.start, duration)
        words.append(w)
    return Turn(turn.recording, turn.speaker, turn.start, duration, tuple(words), turn.gender)


def prepare_turns(turns: Iterable[Turn], recordings: Mapping[str, Recording], stats: DirStats) -> List[Turn]:
    """Keep turns of known recordings, clipped to their audio and at least 10 ms long."""
    kept = []
    for t in sort_turns(turns):
        if t.recording not in recordings:
            raise ValueError(f"turn of {t.speaker} at {t.start:.2f} s: recording {t.recording!r} has no audio")
        dur = recordings[t.recording].duration
        if t.end > dur:
            if t.start >= dur - 0.01:
                stats.dropped += 1
                continue
            t = _clip(t, dur)
            stats.clipped += 1
        if round(t.end, 2) - round(t.start, 2) < 0.01:
            stats.dropped += 1
            continue
        kept.append(t)
    return kept


def _genders(turns: Sequence[Turn]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for t in turns:
        prev = out.get(t.speaker)
        if prev is None or prev == "u":
            out[t.speaker] = t.gender
        elif t.gender not in ("u", prev):
            logger.warning("speaker %s is marked both %s and %s; gender left unknown", t.speaker, prev, t.gender)
            out[t.speaker] = "u"
    return out


def write_corpus_dir(out_dir: PathLike, recordings: Sequence[Recording], turns: Iterable[Turn]) -> DirStats:
    """Write one Kaldi data dir of a corpus (see the module doc).

    Args:
        out_dir: The data dir (created; files in it are replaced).
        recordings: Every recording of the set.
        turns: Their turns (recording times); turns past a recording's end are
            clipped, turns shorter than 10 ms dropped.

    Returns:
        Counts for the log.

    Raises:
        ValueError: if a turn names a recording not in ``recordings`` or two
            turns get the same utterance id.
    """
    stats = DirStats()
    recos = {r.id: r for r in recordings}
    if len(recos) != len(recordings):
        raise ValueError("duplicate recording ids")
    kept = prepare_turns(turns, recos, stats)
    segments: Dict[str, Segment] = {}
    utt2spk: Dict[str, str] = {}
    text: Dict[str, str] = {}
    for t in kept:
        utt = utterance_id(t)
        if utt in segments:
            raise ValueError(f"two turns of {t.speaker} in {t.recording} share the utterance id {utt!r}")
        segments[utt] = Segment(t.recording, round(t.start, 3), round(t.end, 3))
        utt2spk[utt] = t.speaker
        text[utt] = t.text
    d = KaldiDataDir(out_dir)
    genders = _genders(kept)
    extra = {}
    if any(g != "u" for g in genders.values()):
        extra["spk2gender"] = genders
        extra["utt2gender"] = {u: genders[s] for u, s in utt2spk.items()}
    d.write(
        wav_scp={r.id: r.wav for r in recordings},
        segments=segments,
        utt2spk=utt2spk,
        text=text,
        reco2dur={r.id: float(r.duration) for r in recordings},
        rttm=kept,
        uem={r.id: (0.0, float(r.duration)) for r in recordings},
        **extra,
    )
    write_seglst(Path(out_dir) / "ref.seglst.json", kept)
    words = [w for t in kept for w in t.words]
    ctm = Path(out_dir) / "words.ctm"
    if words and all(w.timed for w in words):
        write_ctm(ctm, kept)
        stats.words_ctm = True
    elif ctm.exists():
        ctm.unlink()  # a stale one from an earlier run would contradict the new text
    stats.recordings = len(recordings)
    stats.utterances = len(kept)
    stats.speakers = len(set(utt2spk.values()))
    stats.hours = sum(t.duration for t in kept) / 3600
    return stats


def write_prepared_sets(
    prepared: Mapping[str, "tuple[Sequence[Recording], Sequence[Turn]]"],
    out_dir: PathLike,
    suffix: str,
    skipped: int = 0,
) -> int:
    """Write every prepared set as ``<out_dir>/<set><suffix>``; the CLIs' common ending.

    All sets or none: every set is written into a temporary dir beside its place
    first, and the dirs are renamed into place only when all of them are complete
    (an existing data dir is replaced whole).

    Args:
        prepared: ``{set name: (recordings, turns)}``.
        out_dir: Parent directory of the data dirs.
        suffix: Appended to each set name (``_sdm``, ``_far``...).
        skipped: How many malformed entries were skipped (reported as a warning).

    Returns:
        The exit status: 1 when a set has no recording, a set's turns do not fit its
        recordings or ``out_dir`` cannot be written (nothing is written then), else 0.
    """
    from espnet_tagspeech.data.atomic import check_writable, replace_dir, temp_dir_beside
    from espnet_tagspeech.data.errors import DataFormatError

    for name, (recordings, _) in prepared.items():
        if not recordings:
            logger.error("set %s: no recording could be prepared; nothing written", name)
            return 1
    try:
        check_writable(out_dir)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    done: List[tuple] = []
    try:
        for name, (recordings, turns) in prepared.items():
            out = Path(out_dir) / f"{name}{suffix}"
            tmp = temp_dir_beside(out)
            done.append((tmp, out))
            stats = write_corpus_dir(tmp, recordings, turns)
            logger.info("%s: %s", out, stats.summary())
    except ValueError as e:
        logger.error("%s: %s; nothing written", done[-1][1], e)
        for tmp, _ in done:
            shutil.rmtree(tmp, ignore_errors=True)
        return 1
    except BaseException:
        for tmp, _ in done:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    for tmp, out in done:
        replace_dir(tmp, out)
    if skipped:
        logger.warning("%d malformed entries were skipped (see the warnings above)", skipped)
    return 0
