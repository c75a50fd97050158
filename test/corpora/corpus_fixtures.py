"""Small AMI and AliMeeting corpora written in their exact on-disk formats.

AMI: ``amicorpus/<meeting>/audio/<meeting>.{Array1-01,Mix-Headset}.wav`` and the
manual annotations (``ami_public_manual_1.6.2/{words,segments,corpusResources}``,
NXT XML in ISO-8859-1) plus BUT-style ``only_words/rttms/<set>/<meeting>.rttm``.
AliMeeting: ``Train_Ali_far/{audio_dir,textgrid_dir}``, ``Eval_Ali/Eval_Ali_far``,
``Test_Ali/Test_Ali_far`` with 8-channel audio and TextGrids (long and short format).
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

RATE = 16000
NITE = 'xmlns:nite="http://nite.sourceforge.net/"'


def write_audio(path: Path, seconds: float, channels: int = 1, seed: int = 0) -> None:
    """A few seconds of low noise, 16-bit PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (int(seconds * RATE),) if channels == 1 else (int(seconds * RATE), channels)
    sf.write(str(path), (0.01 * rng.standard_normal(shape)).astype(np.float32), RATE, subtype="PCM_16")


# ----------------------------------------------------------------------------- AMI

# (tag, id suffix, start, end, text, extra attributes) per agent of ES2002a.
ES2002A_WORDS: Dict[str, List[Tuple[str, int, Optional[str], Optional[str], str, str]]] = {
    "A": [
        ("w", 0, "0.50", "0.80", "Okay", ""),
        ("w", 1, "0.80", "0.80", ".", ' punc="true"'),
        ("w", 2, "0.90", "1.20", "so", ""),
        ("vocalsound", 3, "1.20", "1.60", "", ' type="laugh"'),
        ("w", 4, "1.70", "2.00", "that's", ""),  # pause exactly 0.5 s: a new turn
        ("w", 5, "2.00", "2.10", "", ""),  # an empty word
        ("w", 6, "2.10", "2.40", "T_V_", ""),
        ("w", 7, "3.50", "3.90", "fine", ""),
    ],
    "B": [
        ("w", 0, "1.00", "1.40", "Yeah", ""),  # overlaps A's first turn
        ("w", 1, "1.40", "1.40", "?", ' punc="true"'),
        ("gap", 2, "1.40", "1.50", "", ""),
        ("w", 3, "1.60", "1.90", "um", ""),
        ("disfmarker", 4, "1.90", "1.90", "", ""),
        ("w", 5, "2.20", "2.60", "right", ""),
        ("w", 6, None, None, "untimed", ""),
    ],
}
# Expected word-level turns (max pause 0.5): (meeting, speaker, gender, start, end, text).
ES2002A_TURNS = [
    ("ES2002a", "FEE005", "f", 0.50, 1.20, "OKAY SO"),
    ("ES2002a", "FEE005", "f", 1.70, 2.40, "THAT'S TV"),
    ("ES2002a", "FEE005", "f", 3.50, 3.90, "FINE"),
    ("ES2002a", "MEE006", "m", 1.00, 2.60, "YEAH UM RIGHT"),
]
ES2002A_SEGMENTS = {
    "A": [(0.45, 1.25, 0, 3), (1.65, 2.45, 4, 6), (3.45, 3.95, 7, 7)],
    "B": [(0.95, 2.65, 0, 5)],
}
SPEAKERS = {"ES2002a": {"A": "FEE005", "B": "MEE006"}, "ES2011a": {"A": "FIE081"}, "ES2004a": {"A": "MEO069"}}


def words_xml(meeting: str, agent: str, rows: Sequence[tuple]) -> bytes:
    """A words file as AMI ships it (ISO-8859-1, one element per line)."""
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>',
        f'<nite:root nite:id="{meeting}.{agent}.words" {NITE}>',
    ]
    for tag, n, start, end, text, extra in rows:
        times = "" if start is None else f' starttime="{start}" endtime="{end}"'
        wid = f"{meeting}.{agent}.words{n}"
        if tag == "w":
            lines.append(f'   <w nite:id="{wid}"{times}{extra}>{text}</w>')
        else:
            lines.append(f'   <{tag} nite:id="{wid}"{times}{extra}/>')
    lines.append("</nite:root>")
    return ("\n".join(lines) + "\n").encode("iso-8859-1")


def segments_xml(meeting: str, agent: str, segs: Sequence[Tuple[float, float, int, int]]) -> bytes:
    """A segments file: transcriber times and an href range of word ids."""
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>',
        f'<nite:root nite:id="{meeting}.{agent}.segs" {NITE}>',
    ]
    for i, (start, end, first, last) in enumerate(segs):
        lines.append(
            f'   <segment nite:id="{meeting}.sync.{i}" transcriber_start="{start}" '
            f'transcriber_end="{end}" channel="{ord(agent) - 65}">'
        )
        lines.append(
            f'      <nite:child href="{meeting}.{agent}.words.xml#id({meeting}.{agent}.words{first})'
            f'..id({meeting}.{agent}.words{last})"/>'
        )
        lines.append("   </segment>")
    lines.append("</nite:root>")
    return ("\n".join(lines) + "\n").encode("iso-8859-1")


def build_ami(root: Path) -> Path:
    """Write the AMI fixture under ``root``; returns the corpus dir ($AMI)."""
    corpus = root / "AMI"
    manual = corpus / "ami_public_manual_1.6.2"
    for i, meeting in enumerate(["ES2002a", "ES2011a", "ES2004a"]):
        for stream in ("Array1-01", "Mix-Headset"):
            write_audio(corpus / "amicorpus" / meeting / "audio" / f"{meeting}.{stream}.wav", 5.0, seed=i)
    for agent, rows in ES2002A_WORDS.items():
        _write(manual / "words" / f"ES2002a.{agent}.words.xml", words_xml("ES2002a", agent, rows))
        _write(manual / "segments" / f"ES2002a.{agent}.segments.xml", segments_xml("ES2002a", agent, ES2002A_SEGMENTS[agent]))
    # Dev and test meetings: one speaker each; the test one talks past the audio's end.
    _write(manual / "words" / "ES2011a.A.words.xml",
           words_xml("ES2011a", "A", [("w", 0, "0.20", "0.60", "Hello", ""), ("w", 1, "0.70", "1.00", "there", "")]))
    _write(manual / "words" / "ES2004a.A.words.xml",
           words_xml("ES2004a", "A", [("w", 0, "4.50", "5.30", "Bye", "")]))
    meetings = ['<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>', f'<nite:root {NITE}>']
    for meeting, agents in SPEAKERS.items():
        meetings.append(f'  <meeting nite:id="{meeting}.m" observation="{meeting}" type="scenario">')
        for k, (agent, name) in enumerate(agents.items()):
            meetings.append(
                f'    <speaker nite:id="{meeting}.s{k}" channel="{k}" nxt_agent="{agent}" global_name="{name}" role="PM"/>'
            )
        meetings.append("  </meeting>")
    meetings.append("</nite:root>")
    _write(manual / "corpusResources" / "meetings.xml", ("\n".join(meetings) + "\n").encode())
    participants = [f'<nite:root {NITE}>']
    for name in ["FEE005", "MEE006", "FIE081", "MEO069"]:
        participants.append(f'  <participant nite:id="{name}" sex="{name[0]}" age="30" native_language="English"/>')
    participants.append("</nite:root>")
    _write(manual / "corpusResources" / "participants.xml", ("\n".join(participants) + "\n").encode())
    return corpus


def build_but_rttms(corpus: Path) -> Path:
    """BUT-style only_words RTTMs for the three AMI fixture meetings."""
    rttms = corpus / "AMI-diarization-setup" / "only_words" / "rttms"
    _write(rttms / "train" / "ES2002a.rttm", (
        "SPEAKER ES2002a 1 0.5 0.7 <NA> <NA> FEE005 <NA> <NA>\n"
        "SPEAKER ES2002a 1 1.0 0.4 <NA> <NA> MEE006 <NA> <NA>\n"
        "SPEAKER ES2002a 1 1.6 1.0 <NA> <NA> MEE006 <NA> <NA>\n"
        "SPEAKER ES2002a 1 1.7 0.7 <NA> <NA> FEE005 <NA> <NA>\n"
        "SPEAKER ES2002a 1 3.5 0.4 <NA> <NA> FEE005 <NA> <NA>\n"
    ).encode())
    _write(rttms / "dev" / "ES2011a.rttm", b"SPEAKER ES2011a 1 0.2 0.8 <NA> <NA> FIE081 <NA> <NA>\n")
    _write(rttms / "test" / "ES2004a.rttm", b"SPEAKER ES2004a 1 4.5 0.8 <NA> <NA> MEO069 <NA> <NA>\n")
    return rttms


def write_split(root: Path) -> Path:
    """Meeting lists naming the three fixture meetings (train/dev/test)."""
    split = root / "split"
    for name, meeting in (("train", "ES2002a"), ("dev", "ES2011a"), ("test", "ES2004a")):
        _write(split / f"{name}.list", f"{meeting}\n".encode())
    return split


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ----------------------------------------------------------------------------- AliMeeting


def quote(text: str) -> str:
    """A Praat string literal (quotes doubled)."""
    return '"' + text.replace('"', '""') + '"'


def textgrid_long(xmax: float, tiers: Sequence[Tuple[str, Sequence[Tuple[float, float, str]]]]) -> str:
    """A TextGrid in Praat's long text format."""
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0 ", f"xmax = {xmax} ",
           "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]
    for i, (name, intervals) in enumerate(tiers, 1):
        out += [f"    item [{i}]:", '        class = "IntervalTier" ', f"        name = {quote(name)} ",
                "        xmin = 0 ", f"        xmax = {xmax} ", f"        intervals: size = {len(intervals)} "]
        for j, (a, b, text) in enumerate(intervals, 1):
            out += [f"        intervals [{j}]:", f"            xmin = {a} ", f"            xmax = {b} ",
                    f"            text = {quote(text)} "]
    return "\n".join(out) + "\n"


def textgrid_short(xmax: float, tiers: Sequence[Tuple[str, Sequence[Tuple[float, float, str]]]]) -> str:
    """The same TextGrid in Praat's short text format."""
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", str(xmax), "<exists>", str(len(tiers))]
    for name, intervals in tiers:
        out += ['"IntervalTier"', quote(name), "0", str(xmax), str(len(intervals))]
        for a, b, text in intervals:
            out += [str(a), str(b), quote(text)]
    return "\n".join(out) + "\n"


ALI_TRAIN_TIERS = [
    ("R0001_M0001_F_SPK0001", [(0, 0.5, ""), (0.5, 2.0, "你好，世界。"), (2.0, 2.5, ""),
                               (2.5, 4.0, "<sil>"), (4.0, 5.0, "ＯＫ好的")]),
    ("R0001_M0001_M_SPK0002", [(0, 1.5, ""), (1.5, 3.0, "嗯，ＡＢＣ对"), (3.0, 5.0, " ")]),
]
# Expected turns: (recording, speaker, gender, start, end, text).
ALI_TRAIN_TURNS = [
    ("R0001_M0001", "SPK0001", "f", 0.5, 2.0, "你 好 世 界"),
    ("R0001_M0001", "SPK0001", "f", 4.0, 5.0, "OK 好 的"),
    ("R0001_M0001", "SPK0002", "m", 1.5, 3.0, "嗯 ABC 对"),
]
ALI_EVAL_TIERS = [("R0002_M0002_F_SPK0003", [(0, 1.0, "开会"), (1.0, 4.0, "")])]
ALI_TEST_TIERS = [("R0003_M0003_M_SPK0004", [(0, 2.0, ""), (2.0, 3.5, "好吧!")])]


def build_alimeeting(root: Path) -> Path:
    """Write the AliMeeting fixture under ``root``; returns the corpus dir ($ALIMEETING)."""
    corpus = root / "AliMeeting"
    parts = [
        (corpus / "Train_Ali_far", "R0001_M0001", "MS001", textgrid_long(5.0, ALI_TRAIN_TIERS), 5.0),
        (corpus / "Eval_Ali" / "Eval_Ali_far", "R0002_M0002", "MS002", textgrid_short(4.0, ALI_EVAL_TIERS), 4.0),
        (corpus / "Test_Ali" / "Test_Ali_far", "R0003_M0003", "MS003", textgrid_long(3.5, ALI_TEST_TIERS), 3.5),
    ]
    for i, (part, session, array, tg, dur) in enumerate(parts):
        write_audio(part / "audio_dir" / f"{session}_{array}.wav", dur, channels=8, seed=10 + i)
        _write(part / "textgrid_dir" / f"{session}.TextGrid", tg.encode("utf-8"))
    return corpus
