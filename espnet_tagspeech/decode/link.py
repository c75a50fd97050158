"""Linking as one unit: cut-level answers -> one recording's speakers, turns and lines.

Stage 8 (``bin/merge_decodes``) and whole-meeting decoding
(:mod:`espnet_tagspeech.decode.meeting`) both go through
:func:`link_recording` with a :class:`LinkConfig`, which a recipe keeps as a
yaml in ``conf/`` (``conf/link_speakers.yaml``: the LLM's speaker blocks;
``conf/link_lines.yaml``: the cascade's line clustering) and a packed model
carries.
"""

import dataclasses
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from espnet_tagspeech.data.turn import Turn, merge_intervals
from espnet_tagspeech.settings import read_settings_yaml, settings_from_dict

_LINKS = ("model", "fbank", "resemblyzer", "none")
_UNITS = ("speaker", "line")
_RTTM_FROM = ("block", "lines")

logger = logging.getLogger(__name__)


@dataclass
class LinkConfig:
    """How the cut-local speakers of a recording become its speakers.

    Attributes:
        link: Voice prints from the model's speaker stream (``model``), from
            log-mel statistics (``fbank``), from resemblyzer's pre-trained GE2E
            encoder (``resemblyzer``), or no linking (``none``: every cut keeps
            its own speakers).
        link_unit: ``speaker``: cluster the speakers of the answers' speaker
            blocks (two speakers of one cut stay apart); ``line``: cluster every
            text line on its own voice, ignoring the answers' speaker ids (the
            cascade baseline; needs ``rttm_from: lines``).
        rttm_from: Diarization from the speaker blocks' time ranges
            (``block``, the paper's) or from the text lines' ranges with the
            speaker the block gives each line (``lines``).
        linking_threshold: Cosine distance at which clustering stops.
        max_line_overlap: ``line``: lines overlapping by more seconds never
            share a speaker.
        max_line_overlap_frac: ``line``: nor when they overlap by more than
            this fraction of the shorter one.
        min_speaker_sec: A linked speaker with less speech of its own joins
            its closest allowed speaker (``speaker``: one holding no speaker of
            the same cut).
        drop_speaker_sec: After linking (and ``min_speaker_sec``), a linked
            speaker whose speech totals less than this is dropped with its
            lines (so are lines whose speaker has no speech at all).  With
            ``min_speaker_sec`` at least as large, what is left that short is
            a speaker the folding could not place (it shares a cut with every
            other speaker): a stray id, not a person.  The recording's speaker
            with the most speech always stays; ``0`` keeps every speaker.
        min_member_sec: ``speaker``: before ``min_speaker_sec``, a linked
            speaker none of whose cut speakers has this much speech of its own
            (short ids gathered from many cuts) is taken apart the same way.
        min_speaker_frac: ``speaker``: ``min_speaker_sec`` grows to this
            fraction of the recording's speech, so that the bar scales with the
            meeting's length (stray ids gather more seconds in a long meeting).
        min_line_sec: ``line``: shorter lines are clustered last.
        voice_trim: ``line``: seconds left out at both ends of a line's voice print.
        window_sec: Items are clustered within windows of this many seconds
            first, so long recordings cost time in proportion to their length.
    """

    link: str = "model"
    link_unit: str = "speaker"
    rttm_from: str = "block"
    linking_threshold: float = 0.3
    max_line_overlap: float = 0.3
    max_line_overlap_frac: Optional[float] = None
    min_speaker_sec: float = 0.0
    drop_speaker_sec: float = 0.0
    min_member_sec: float = 0.0
    min_speaker_frac: float = 0.0
    min_line_sec: float = 0.0
    voice_trim: float = 0.0
    window_sec: Optional[float] = 300.0

    def __post_init__(self) -> None:
        for name, value, allowed in (("link", self.link, _LINKS), ("link_unit", self.link_unit, _UNITS),
                                     ("rttm_from", self.rttm_from, _RTTM_FROM)):
            if value not in allowed:
                raise ValueError(f"link config {name} must be one of {list(allowed)}, got {value!r}")
        if self.link_unit == "line" and (self.rttm_from != "lines" or self.link == "none"):
            raise ValueError("link config link_unit 'line' needs rttm_from 'lines' and a voice-print link (not 'none')")
        if self.linking_threshold <= 0:
            raise ValueError(f"link config linking_threshold must be > 0, got {self.linking_threshold}")
        for name in ("drop_speaker_sec", "min_member_sec"):
            if getattr(self, name) < 0:
                raise ValueError(f"link config {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.min_speaker_frac < 0.5:
            raise ValueError(f"link config min_speaker_frac must be in [0, 0.5), got {self.min_speaker_frac}")

    @classmethod
    def fields(cls) -> List[str]:
        """The names of the settings (the keys a link yaml may hold)."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, conf: Dict, source: str = "<link config>") -> "LinkConfig":
        """Build from a mapping, naming ``source`` and the key of any mistake.

        Raises:
            ValueError: an unknown key or a bad value.
        """
        return settings_from_dict(cls, conf, source, "link")

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> "LinkConfig":
        """Read a link yaml (``conf/link_*.yaml``).

        Raises:
            FileNotFoundError: no such file.
            ValueError: not valid yaml, not a mapping, an unknown key or a bad value, naming the file.
        """
        return cls.from_dict(read_settings_yaml(path, "link"), str(path))

    def to_dict(self) -> Dict:
        """The settings as a plain mapping (what a yaml holds)."""
        return dataclasses.asdict(self)


def _clip(turns: Sequence[Turn], lo: float, hi: float) -> List[Turn]:
    out = []
    for t in turns:
        s, e = max(t.start, lo), min(t.end, hi)
        if e - s > 1e-3:
            out.append(replace(t, start=s, end=e))
    return out


@dataclass
class RecordingTurns:
    """One recording's cut-level turns, gathered for linking.

    Attributes:
        diarization: Speaker turns labelled ``<cut>|<local id>``, recording time.
        lines: Text lines with the same labels.
        cut_of: Each local label's cut (the cannot-link groups).
    """

    diarization: List[Turn] = dataclasses.field(default_factory=list)
    lines: List[Turn] = dataclasses.field(default_factory=list)
    cut_of: Dict[str, str] = dataclasses.field(default_factory=dict)

    def add_cut(self, key: str, start: float, end: float, parsed, rttm_from: str) -> None:
        """Add the parsed answer of cut ``key`` (already in recording time), clipped to the cut.

        Args:
            key: The cut id.
            start: Its start in the recording (s).
            end: Its end (s).
            parsed: The :class:`~espnet_tagspeech.serialization.ParseResult` of its answer.
            rttm_from: ``block`` or ``lines`` (:attr:`LinkConfig.rttm_from`).
        """
        for t in parsed.speaker_turns + parsed.turns:
            self.cut_of[f"{key}|{t.speaker}"] = key
        self.diarization += _clip([t.with_speaker(f"{key}|{t.speaker}") for t in parsed.diarization(rttm_from)],
                                  start, end)
        self.lines += _clip([t.with_speaker(f"{key}|{t.speaker}") for t in parsed.turns], start, end)


def link_recording(
    turns: RecordingTurns,
    audio: Optional[np.ndarray],
    sample_rate: int,
    config: LinkConfig,
    embed=None,
    num_speakers: Optional[int] = None,
) -> Tuple[List[Turn], List[Turn]]:
    """One recording's diarization turns and text lines with recording-level speakers.

    Args:
        turns: The recording's cut-level turns.
        audio: Its samples (mono); may be ``None`` with ``link: none``.
        sample_rate: Their rate.
        config: The linking settings.
        embed: ``embed(audio, rate) -> vector`` voice prints (needed unless ``link: none``).
        num_speakers: Known number of speakers (oracle), if any.

    Returns:
        ``(diarization, lines)``; labels ``spk1``, ``spk2``... by first
        appearance (a dropped speaker leaves a gap), or the cut-local labels
        with ``link: none``.
    """
    from espnet_tagspeech.decode.voices import link_lines, link_speakers

    if config.link == "none":
        return list(turns.diarization), list(turns.lines)
    if audio is None or embed is None:
        raise ValueError(f"link '{config.link}' needs the recording's audio and a voice-print function")
    if config.link_unit == "line":
        lines = link_lines(
            turns.lines, audio, sample_rate, embed, config.linking_threshold, num_speakers,
            config.max_line_overlap, config.min_speaker_sec, config.voice_trim,
            config.max_line_overlap_frac, config.min_line_sec, window_sec=config.window_sec,
        )
        diarization = [replace(t, words=()) for t in lines]
    else:
        diarization, lines = link_speakers(
            turns.diarization, turns.lines, turns.cut_of, audio, sample_rate, embed,
            config.linking_threshold, num_speakers, window_sec=config.window_sec,
            min_speaker_sec=config.min_speaker_sec, min_member_sec=config.min_member_sec,
            min_speaker_frac=config.min_speaker_frac,
        )
    if config.drop_speaker_sec > 0 and num_speakers is None:
        diarization, lines = drop_small_speakers(diarization, lines, config.drop_speaker_sec)
    return diarization, lines


def drop_small_speakers(
    diarization: Sequence[Turn], lines: Sequence[Turn], min_sec: float
) -> Tuple[List[Turn], List[Turn]]:
    """Drop the speakers whose diarization turns cover less than ``min_sec`` seconds, with their lines.

    The speaker with the most speech always stays (a recording keeps at least
    one speaker).  Each drop is logged with the recording, the speaker and its
    speech.

    Args:
        diarization: One recording's speaker turns (recording-level labels).
        lines: Its text lines with the same labels.
        min_sec: Seconds of speech (the union of a speaker's turns) a speaker needs.

    Returns:
        ``(diarization, lines)`` without the dropped speakers' turns.
    """
    spans: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
    for t in diarization:
        spans[t.speaker].append((t.start, t.end))
    for t in lines:  # a speaker with lines but no diarization turn has no speech
        spans.setdefault(t.speaker, [])
    speech = {spk: sum(e - s for s, e in merge_intervals(sp)) for spk, sp in spans.items()}
    if not speech:
        return list(diarization), list(lines)
    keep = max(speech, key=lambda k: (speech[k], k))
    dropped = {spk for spk, sec in speech.items() if sec < min_sec and spk != keep}
    for spk in sorted(dropped):
        reco = next((t.recording for t in list(diarization) + list(lines) if t.speaker == spk), "?")
        logger.info("%s: dropped speaker %s (%.2f s of speech, %d lines; drop_speaker_sec %.1f)",
                    reco, spk, speech[spk], sum(t.speaker == spk for t in lines), min_sec)
    return ([t for t in diarization if t.speaker not in dropped],
            [t for t in lines if t.speaker not in dropped])


def recording_voices(lines: Sequence[Turn], audio: np.ndarray, sample_rate: int, embed,
                     min_alone: float = 1.0) -> Dict[str, np.ndarray]:
    """The voice print of each speaker of one recording's linked lines.

    What a second decoding pass weighs lines against (``speaker_voice_passes:
    2``): each speaker's print is ``embed`` over the audio of its lines where no
    other speaker's line talks (all of its lines when that leaves under
    ``min_alone`` seconds), as a unit vector.

    Args:
        lines: The recording's text lines with recording-level speakers.
        audio: Its samples (mono).
        sample_rate: Their rate.
        embed: ``embed(audio, rate) -> vector``.
        min_alone: Seconds of lone speech a print needs before overlapped speech is used too.

    Returns:
        ``{speaker: (D,) unit print}``, speakers sorted.
    """
    from espnet_tagspeech.decode.voices import _subtract

    spans: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
    for t in lines:
        spans[t.speaker].append((t.start, t.end))
    out = {}
    for spk in sorted(spans):
        own = merge_intervals(spans[spk])
        others = merge_intervals([sp for k, v in spans.items() if k != spk for sp in v])
        alone = _subtract(own, others)
        use = alone if sum(e - s for s, e in alone) >= min_alone else own
        pieces = [audio[int(s * sample_rate): int(e * sample_rate)] for s, e in use]
        pieces = [p for p in pieces if len(p)]
        if not pieces:
            continue
        v = np.asarray(embed(np.concatenate(pieces), sample_rate), dtype=np.float64)
        out[spk] = v / max(float(np.linalg.norm(v)), 1e-12)
    return out


def add_link_arguments(parser) -> None:
    """Add ``--config`` (a link yaml) and one ``--<setting>`` flag per :class:`LinkConfig`
    field to an argparse parser (flags win over the yaml, the yaml over the defaults)."""
    import typing

    group = parser.add_argument_group("speaker linking (LinkConfig; a yaml via --config)")
    group.add_argument("--config", default=None, help="link yaml (conf/link_*.yaml)")
    hints = typing.get_type_hints(LinkConfig)
    for f in dataclasses.fields(LinkConfig):
        kind = hints[f.name]
        if typing.get_origin(kind) is Union:  # Optional[x]
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        choices = {"link": _LINKS, "link_unit": _UNITS, "rttm_from": _RTTM_FROM}.get(f.name)
        group.add_argument(f"--{f.name}", type=kind, default=None, choices=choices,
                           help=f"(default {f.default!r})")


def link_config_from_args(args) -> LinkConfig:
    """The :class:`LinkConfig` of parsed arguments (see :func:`add_link_arguments`).

    Raises:
        ValueError: a bad yaml or value, naming the file and key.
    """
    conf: Dict = {}
    if args.config:
        conf = LinkConfig.from_yaml(args.config).to_dict()
    for name in LinkConfig.fields():
        value = getattr(args, name, None)
        if value is not None:
            conf[name] = value
    return LinkConfig.from_dict(conf, args.config or "command line")
