"""Decode audio with a trained TagSpeech model (ESPnet-style batch decoding).

Writes into ``--output_dir``:

* ``text``: ``key raw-output`` per line (newlines escaped as ``\\n``),
* ``rttm``: the speaker block of every output (diarization),
* ``hyp.seglst.json``: one segment per text line (meeteval SegLST),
* ``warnings``: ``key message`` for outputs that did not parse cleanly,
* ``decoded.jsonl``: the journal of results (:mod:`espnet_tagspeech.decode.journal`):
  a killed job run again decodes only the keys it lacks.

With a ``segments`` file beside ``wav.scp`` the keys are segments (cuts): turns
are put in recording time and speaker labels become ``<cut>-<id>``
(speakers are not linked across cuts).  Without it, keys are recordings.

``--recording_voices`` (a ``voices.json`` of ``merge_decodes --voices_from``)
gives the speaker block's voice bias the voices of each recording's speakers
from a first decoding (``speaker_voice_passes: 2``); ``--cut2reco`` names the
recording of each key when the keys are cut files.  ``--keep_text_from`` (that
first decoding's ``text``) keeps each key's text block: the second pass writes
only the speaker block, which is all the voices change.

Example (one job of ``utils/run.pl JOB=1:N``)::

    python -m espnet_tagspeech.bin.tagspeech_inference \\
        --data_path_and_name_and_type data/test/wav.scp,speech,sound \\
        --key_file exp/decode/keys.JOB.scp --output_dir exp/decode/output.JOB \\
        --train_config exp/tagspeech/config.yaml --model_file exp/tagspeech/valid.acc.ave.pth
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from espnet_tagspeech.data.errors import DataFormatError


def get_parser() -> argparse.ArgumentParser:
    """Command-line options: the run's own, then one flag per decoding setting."""
    from espnet_tagspeech.decode.config import DecodeConfig

    p = argparse.ArgumentParser(description="TagSpeech decoding (--config reads a decoding yaml)")
    p.add_argument("--data_path_and_name_and_type", action="append",
                   help="wav.scp,speech,sound (a segments file beside it is used; required to decode)")
    p.add_argument("--key_file", default=None, help="decode only these keys (first field)")
    p.add_argument("--output_dir", help="where the outputs go (required to decode)")
    p.add_argument("--print_config", action="store_true",
                   help="print the decoding settings --config and the flags give (yaml) and stop")
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--train_config", default=None)
    p.add_argument("--model_file", default=None)
    p.add_argument("--model_tag", default=None, help="packed model (zip/tgz) or its unpacked dir")
    p.add_argument("--num_threads", type=int, default=0,
                   help="CPU threads of this job (0 = torch's default: all cores)")
    p.add_argument("--log_level", default="INFO")
    p.add_argument("--recording_voices", default=None,
                   help="voices.json of a first pass (merge_decodes --voices_from): recording -> speaker -> print")
    p.add_argument("--cut2reco", default=None, help="cut -> 'reco start end': the recording of each key")
    p.add_argument("--keep_text_from", default=None,
                   help="'text' of an earlier decoding (key raw-output): keep each key's text block, "
                        "write the speaker block anew")
    DecodeConfig.add_arguments(p)
    return p


def _inputs(spec: List[str], key_file: Optional[str]) -> List[Tuple[str, str, float, Optional[float], str]]:
    """``(key, wav.scp value, start, end, recording)`` of every input to decode."""
    from espnet_tagspeech.data.kaldi import read_segments, read_wav_scp

    if len(spec) != 1:
        raise ValueError("give exactly one --data_path_and_name_and_type (the speech)")
    parts = spec[0].split(",")
    if len(parts) != 3 or parts[1] != "speech" or parts[2] != "sound":
        raise ValueError(f"expected wav.scp,speech,sound; got {spec[0]!r}")
    scp = Path(parts[0])
    wavs = read_wav_scp(scp)
    seg_file = scp.parent / "segments"
    if seg_file.is_file():
        items = []
        for key, seg in read_segments(seg_file).items():
            if seg.recording not in wavs:
                raise DataFormatError(str(seg_file), None, f"{key}: recording {seg.recording!r} not in {scp}")
            items.append((key, wavs[seg.recording], seg.start, seg.end, seg.recording))
    else:
        items = [(k, v, 0.0, None, k) for k, v in wavs.items()]
    if key_file:
        with open(key_file, encoding="utf-8") as f:
            wanted = [ln.split()[0] for ln in f if ln.strip()]
        known = {it[0]: it for it in items}
        missing = [k for k in wanted if k not in known]
        if missing:
            raise DataFormatError(key_file, None, f"keys not in {scp}: {missing[:5]}")
        items = [known[k] for k in wanted]
    return items


def _recording_voices(path: Optional[str], cut2reco: Optional[str], items) -> dict:
    """``{key: (K, D) prints of its recording's speakers}`` from a voices.json (``{}``: none given).

    Raises:
        DataFormatError: unreadable json, a print that is not a list of numbers, or
            a recording (of ``cut2reco`` or the segments) with no entry, naming the file.
    """
    if not path:
        return {}
    import json

    import numpy as np

    try:
        with open(path, encoding="utf-8") as f:
            table = json.load(f)
        prints = {reco: np.array([spk[k] for k in sorted(spk)], dtype=np.float64) for reco, spk in table.items()}
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such voices file") from None
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as e:
        raise DataFormatError(path, None, f"not a voices.json (recording -> speaker -> print): {e}") from None
    reco_of = {it[0]: it[4] for it in items}
    if cut2reco:
        from espnet_tagspeech.bin.merge_decodes import read_cut2reco

        cuts = read_cut2reco(cut2reco)
        lost = [it[0] for it in items if it[0] not in cuts]
        if lost:
            raise DataFormatError(cut2reco, None, f"no entry for keys {lost[:5]}")
        reco_of = {k: cuts[k][0] for k in reco_of}
    absent = sorted({r for r in reco_of.values() if r not in prints})
    if absent:
        raise DataFormatError(path, None, f"no voices for recordings {absent[:5]}")
    return {k: prints[r] for k, r in reco_of.items()}


def _kept_answers(path: Optional[str], items) -> dict:
    """``{key: earlier raw answer}`` of every input from a decoding's ``text`` (``{}``: none given).

    Raises:
        DataFormatError: a missing file, a line without an answer, or an input
            key with no line, naming the file (and line).
    """
    if not path:
        return {}
    from espnet_tagspeech.data.kaldi import read_scp
    from espnet_tagspeech.serialization import line_to_target

    answers = {key: line_to_target(value) for key, value in read_scp(path).items()}
    lost = [it[0] for it in items if it[0] not in answers]
    if lost:
        raise DataFormatError(path, None, f"no answer for keys {lost[:5]}")
    return answers


def _decode_settings(args, parser: argparse.ArgumentParser):
    """The checked decoding settings: a :class:`DecodeConfig` (with ``--train_config``), or
    ``(yaml settings or None, flags)`` applied over a packed model's own (``--model_tag``).
    A bad setting exits with its message before any work."""
    from espnet_tagspeech.decode.config import DecodeConfig

    if not args.model_tag and not args.train_config:
        parser.error("give --model_tag, or --train_config and --model_file")
    try:
        if args.model_tag:
            return DecodeConfig.read_yaml(args.config) if args.config else None, DecodeConfig.given(args)
        return DecodeConfig.from_args(args)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")


def _print_config(args, parser: argparse.ArgumentParser) -> None:
    """Write the checked settings of ``--config`` and the flags as yaml (what a recipe reads
    before its decoding jobs; a bad setting exits with its message)."""
    import yaml

    from espnet_tagspeech.decode.config import DecodeConfig

    try:
        config = DecodeConfig.from_args(args)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    sys.stdout.write(yaml.safe_dump(config.to_dict(), sort_keys=False))


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit code (1 with the message on bad input, before any decoding)."""
    parser = get_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    if args.print_config:
        _print_config(args, parser)
        return 0
    if not args.data_path_and_name_and_type or not args.output_dir:
        parser.error("--data_path_and_name_and_type and --output_dir are required")
    settings = _decode_settings(args, parser)
    from espnet_tagspeech.data.kaldi import AudioReadError

    try:
        _run(args, settings)
    except (DataFormatError, AudioReadError, ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        return 1
    return 0


def _run(args, settings) -> None:
    """Check the inputs, then decode the keys the job's journal lacks and write the outputs."""
    from tqdm import tqdm

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.formats import write_rttm, write_seglst
    from espnet_tagspeech.data.kaldi import load_audio, read_segment
    from espnet_tagspeech.data.validate import check_decodable_audio
    from espnet_tagspeech.decode.journal import DecodeJournal, fingerprint
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.serialization import target_to_line

    if args.num_threads > 0:
        import torch

        torch.set_num_threads(args.num_threads)
    items = _inputs(args.data_path_and_name_and_type, args.key_file)
    voices = _recording_voices(args.recording_voices, args.cut2reco, items)
    kept = _kept_answers(args.keep_text_from, items)
    segmented = any(it[3] is not None for it in items)
    device = "cuda" if args.ngpu > 0 else "cpu"
    out = Path(args.output_dir)
    journal = DecodeJournal(out, fingerprint(args.model_tag, args.train_config, args.model_file,
                                             repr(settings), args.data_path_and_name_and_type, segmented,
                                             args.recording_voices, args.keep_text_from))
    todo = set(journal.missing(it[0] for it in items))
    if len(todo) < len(items):
        logging.info("%d of %d keys decoded by an earlier run; decoding the other %d",
                     len(items) - len(todo), len(items), len(todo))
    for key, entry, start, end, _ in items:  # every input readable before the model loads
        if key in todo:
            check_decodable_audio(key, entry, start, end, kind="input")
    if not todo:
        s2t = None
    elif args.model_tag:  # the packed decoding config (or --config's), then the flags
        conf, flags = settings
        s2t = Speech2Tags.from_pretrained(args.model_tag, device=device, decode_config=conf, **flags)
    else:
        s2t = Speech2Tags(args.train_config, args.model_file, device, settings)
    reads_voices = s2t is not None and s2t.decode_config.text_from == "llm" and s2t.decode_config.speaker_voice_bias
    if voices and s2t is not None and not reads_voices:
        raise ValueError("--recording_voices is read by the speaker block's voice bias: set speaker_voice_bias > 0")
    if kept and s2t is not None and s2t.decode_config.text_from != "llm":
        raise ValueError("--keep_text_from keeps the LLM's text block: text_from must be 'llm'")
    pending = [it for it in items if it[0] in todo]
    batch_size = s2t.decode_config.batch_size if s2t is not None else 1
    for b in tqdm(range(0, len(pending), batch_size), desc="decode", unit="batch"):
        batch = pending[b : b + batch_size]
        wavs, rates = [], set()
        for key, entry, start, end, _ in batch:
            wav, rate = read_segment(entry, start, end, key=key) if end is not None else load_audio(entry, key=key)
            wavs.append(wav)
            rates.add(rate)
        if len(rates) != 1:
            raise DataFormatError(args.data_path_and_name_and_type[0], None, f"mixed sample rates {sorted(rates)}")
        results = s2t.batch(
            wavs, fs=rates.pop(), keys=[it[0] for it in batch],
            recordings=[it[4] for it in batch], offsets=[it[2] for it in batch],
            voices=[voices.get(it[0]) for it in batch] if voices else None,
            keep_text=[kept[it[0]] for it in batch] if kept else None,
        )
        journal.add(results)

    texts, turns, spk_turns, warns = [], [], [], []
    for key, *_ in items:
        res = journal.get(key)
        texts.append(f"{res.key} {target_to_line(res.text)}")
        rename = (lambda t, k=res.key: t.with_speaker(f"{k}-{t.speaker}")) if segmented else (lambda t: t)
        turns += [rename(t) for t in res.turns]
        spk_turns += [rename(t) for t in res.speaker_turns]
        warns += [f"{res.key} {w}" for w in res.warnings]

    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "text") as f:
        f.writelines(t + "\n" for t in texts)
    with atomic_write(out / "warnings") as f:
        f.writelines(w + "\n" for w in warns)
    write_rttm(out / "rttm", spk_turns)
    write_seglst(out / "hyp.seglst.json", turns)
    logging.info("decoded %d inputs into %s (%d with warnings)", len(items), out,
                 len({w.split()[0] for w in warns}))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
