"""Cut a Kaldi data dir of speaker turns into TagSpeech utterance groups.

Example::

    python -m espnet_tagspeech.bin.make_cuts --in_dir data/train \\
        --out_dir data/train_cuts --min_dur 0.5 --max_dur 80 --max_pause 0.0

The input has one segment per speaker turn (``segments``, ``utt2spk``,
``text``, ``wav.scp``; ``spk2gender`` optional).  The output is a Kaldi dir
of cuts: ``segments`` over the recordings (cut id
``<recording>_<start ms>_<end ms>``), ``wav.scp`` copied, ``utt2spk`` /
``spk2utt`` (cut -> recording, as ESPnet does for multi-speaker cuts),
``text`` holding the serialized TagSpeech target of each cut on one line
(newlines escaped as ``\\n``), ``utt2dur``, ``rttm`` of the kept turns in
recording time, and ``cuts.list`` (``cut recording start end speakers turns``).  The output
dir is assembled beside its place and renamed: it is replaced whole, or left as it was.
"""

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet_tagspeech.data.atomic import atomic_write, check_writable, replace_dir, temp_dir_beside
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.turn import GENDERS, Turn

_RESERVED = set("<>\\")


def get_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_dir", required=True, help="Kaldi dir with one segment per turn")
    p.add_argument("--out_dir", required=True, help="Kaldi dir of cuts to write")
    p.add_argument("--min_dur", type=float, default=0.5, help="drop shorter groups (s)")
    p.add_argument("--max_dur", type=float, default=80.0, help="split longer groups (s)")
    p.add_argument("--max_pause", type=float, default=0.0, help="largest pause inside a group (s)")
    p.add_argument("--log_level", default="INFO")
    return p


def read_turns(in_dir: Path) -> List[Turn]:
    """The turns of a Kaldi data dir with one segment per turn.

    Raises:
        DataFormatError: naming the file and the utterance of the first problem.
    """
    from espnet_tagspeech.data.kaldi import KaldiDataDir

    d = KaldiDataDir(in_dir)
    for name in ("segments", "utt2spk", "text", "wav.scp"):
        if not d.has(name):
            raise DataFormatError(str(in_dir / name), None, "no such file (needed to make cuts)")
    segments, utt2spk, text, wav = d.segments, d.utt2spk, d.text, d.wav_scp
    genders: Dict[str, str] = dict(d.get("spk2gender") or {})  # type: ignore[arg-type]
    turns = []
    for utt, seg in segments.items():  # type: ignore[union-attr]
        for name, table in (("utt2spk", utt2spk), ("text", text)):
            if utt not in table:  # type: ignore[operator]
                raise DataFormatError(str(in_dir / name), None, f"no entry for utterance {utt!r}")
        if seg.recording not in wav:  # type: ignore[operator]
            raise DataFormatError(str(in_dir / "segments"), None,
                                  f"utterance {utt!r}: recording {seg.recording!r} not in wav.scp")  # fmt: skip
        words = str(text[utt]).split()  # type: ignore[index]
        bad = [w for w in words if _RESERVED & set(w)]
        if bad:
            raise DataFormatError(str(in_dir / "text"), None,
                                  f"utterance {utt!r}: reserved character in {bad[0]!r}")  # fmt: skip
        spk = str(utt2spk[utt])  # type: ignore[index]
        gender = genders.get(spk, "u").strip().lower()
        if gender not in GENDERS:
            raise DataFormatError(str(in_dir / "spk2gender"), None, f"speaker {spk!r}: gender {gender!r}")
        try:
            turns.append(Turn.from_text(seg.recording, spk, seg.start, seg.end, " ".join(words), gender))
        except ValueError as e:
            raise DataFormatError(str(in_dir / "segments"), None, f"utterance {utt!r}: {e}") from None
    return turns


def write_cuts_dir(in_dir: Path, out_dir: Path, cuts: Sequence) -> None:
    """Write the Kaldi dir of ``cuts`` (see the module docstring)."""
    from espnet_tagspeech.data.kaldi import KaldiDataDir, Segment
    from espnet_tagspeech.serialization import target_to_line

    out_dir.mkdir(parents=True, exist_ok=True)
    KaldiDataDir(out_dir).write(
        segments={c.id: Segment(c.recording, c.start, c.end) for c in cuts},
        utt2spk={c.id: c.recording for c in cuts},
        text={c.id: target_to_line(c.target()) for c in cuts},
        utt2dur={c.id: c.duration for c in cuts},
        rttm=[t for c in cuts for t in c.turns],
    )
    for name in ("wav.scp", "reco2dur", "uem"):
        if (in_dir / name).is_file():
            with atomic_write(out_dir / name, "wb") as f, open(in_dir / name, "rb") as src:
                shutil.copyfileobj(src, f)
    with atomic_write(out_dir / "cuts.list") as f:
        for c in cuts:
            n_spk = len({t.speaker for t in c.turns})
            f.write(f"{c.id} {c.recording} {c.start:.3f} {c.end:.3f} {n_spk} {len(c.turns)}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    from espnet_tagspeech.data.grouping import cut_index, make_cuts

    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if in_dir.resolve() == out_dir.resolve():
        print("make_cuts: error: --out_dir must differ from --in_dir", file=sys.stderr)
        return 2
    try:
        turns = read_turns(in_dir)
        result = make_cuts(turns, args.min_dur, args.max_dur, args.max_pause)
        cut_index(result.cuts)  # ids must be unique
        check_writable(out_dir)
    except (DataFormatError, ValueError) as e:
        print(f"make_cuts: error: {e}", file=sys.stderr)
        return 2
    # the dir appears whole or not at all: assembled beside it, then renamed
    tmp = temp_dir_beside(out_dir)
    try:
        write_cuts_dir(in_dir, tmp, result.cuts)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, out_dir)
    hours = sum(c.duration for c in result.cuts) / 3600
    logging.info(
        "%s: %d turns -> %d cuts (%.3f h); dropped %d short, %d unsplittable long groups",
        out_dir, len(turns), len(result.cuts), hours, len(result.too_short), len(result.too_long),
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
