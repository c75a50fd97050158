"""Equal error rate of speaker embeddings on the voices of a test set (unseen in training).

Reads a Kaldi data dir with an ``rttm`` and a ``wav.scp`` (the mini recipe's
``dump/mini/raw/test``, whose voices are disjoint from the training voices),
cuts segments where one reference speaker talks alone, embeds each segment
with every embedder asked for and scores pairs of segments by cosine
similarity: target pairs share a voice, non-target pairs do not.  Two modes:

- within meeting: pairs of segments of one recording (what linking faces);
- across meetings: pairs of segments of two recordings; needs speaker labels
  that name the voice in every recording (``--labels global``).  The meeting
  simulator labels turns with the voice's name (``f201``, ``m203``...: the
  ``Voice.name`` of ``espnet_tagspeech.simulate.voices``), the same in every
  meeting, so its labels are global.

Embedders (each skipped with a message when unavailable):

- ``model``: the TagSpeech model's speaker stream as linking uses it
  (:class:`espnet_tagspeech.decode.voices.SpeakerStreamEmbedder`), from ``--model``
  (a packed zip) or ``--train_config`` / ``--model_file``;
- ``fbank``: mean and std of log-mel filterbanks (linking's ``link: fbank``);
- ``resemblyzer``: the pre-trained GE2E encoder of the ``resemblyzer`` package
  (:class:`espnet_tagspeech.decode.voices.ResemblyzerEmbedder`, linking's ``link: resemblyzer``).

With ``--center both`` (default) each embedder is scored twice: as is, and
centred on the mean of its recording's segments (linking centres the voice
prints of a recording holding more than two items), shown as ``<name>+centre``.

Usage::

    python bench/bench_speaker_eer.py --data_dir egs2/mini_meeting/tagspeech1/dump/mini/raw/test \\
        [--model exp/.../model.zip | --train_config config.yaml --model_file model.pth] \\
        [--embedders model fbank resemblyzer] [--max_per_speaker 5] [--max_pairs 200000] \\
        [--out exp/bench_speaker_eer/RESULTS.md]
"""

import argparse
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from espnet_tagspeech.scoring.speaker import equal_error_rate

logger = logging.getLogger("bench_speaker_eer")
EmbedFn = Callable[[np.ndarray, int], np.ndarray]
EMBEDDERS = ("model", "fbank", "resemblyzer")


class Segment(NamedTuple):
    """A stretch of one voice alone in a recording (seconds)."""

    recording: str
    speaker: str
    start: float
    end: float


def _solo_pieces(span: Tuple[float, float], others: Sequence[Tuple[float, float]]) -> List[Tuple[float, float]]:
    """The parts of ``span`` outside every span of ``others``."""
    pieces = [span]
    for o_start, o_end in sorted(others):
        kept = []
        for a, b in pieces:
            if o_end <= a or o_start >= b:
                kept.append((a, b))
                continue
            if o_start > a:
                kept.append((a, o_start))
            if o_end < b:
                kept.append((o_end, b))
        pieces = kept
    return pieces


def select_segments(
    turns, min_sec: float = 1.0, trim: float = 0.1, max_per_speaker: int = 5, seed: int = 0
) -> List[Segment]:
    """Stretches of reference turns where no other speaker is active.

    Each turn loses the time where another speaker of its recording talks; every
    remaining piece is trimmed by ``trim`` seconds at both ends and kept when at
    least ``min_sec`` long.  Of a speaker's pieces in one recording at most
    ``max_per_speaker`` are kept (a seeded random choice; ``0``: all).

    Args:
        turns: Reference turns (objects with ``recording``, ``speaker``,
            ``start``, ``end``), e.g. from :func:`espnet_tagspeech.data.formats.read_rttm`.
        min_sec: Shortest segment kept, after trimming.
        trim: Seconds dropped at both ends of a piece.
        max_per_speaker: Most segments per speaker and recording.
        seed: Seed of the random choice.

    Returns:
        Segments sorted by recording, start time and speaker.
    """
    by_reco: Dict[str, list] = defaultdict(list)
    for t in turns:
        by_reco[t.recording].append(t)
    rng = np.random.default_rng(seed)
    out: List[Segment] = []
    for reco in sorted(by_reco):
        found: Dict[str, List[Segment]] = defaultdict(list)
        for t in by_reco[reco]:
            others = [(o.start, o.end) for o in by_reco[reco] if o.speaker != t.speaker]
            for a, b in _solo_pieces((t.start, t.end), others):
                if (b - trim) - (a + trim) >= min_sec - 1e-9:
                    found[t.speaker].append(Segment(reco, t.speaker, round(a + trim, 4), round(b - trim, 4)))
        for spk in sorted(found):
            segs = sorted(found[spk], key=lambda x: x.start)
            if max_per_speaker and len(segs) > max_per_speaker:
                pick = np.sort(rng.choice(len(segs), max_per_speaker, replace=False))
                segs = [segs[i] for i in pick]
            out.extend(segs)
    return sorted(out, key=lambda x: (x.recording, x.start, x.speaker))


def pair_indices(
    segments: Sequence[Segment], mode: str, max_pairs: int = 0, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Pairs of segments of one mode and whether each is a target pair.

    Args:
        segments: The segments.
        mode: ``within`` (both of one recording) or ``across`` (of two recordings).
        max_pairs: Keep a seeded random sample of this many pairs (``0``: all).
        seed: Seed of the sample.

    Returns:
        ``(pairs, is_target)``: ``(m, 2)`` indices ``i < j`` and ``(m,)`` booleans.
    """
    reco = np.array([s.recording for s in segments])
    spk = np.array([s.speaker for s in segments])
    i, j = np.triu_indices(len(segments), k=1)
    same_reco = reco[i] == reco[j]
    keep = same_reco if mode == "within" else ~same_reco
    pairs = np.stack([i[keep], j[keep]], axis=1)
    if max_pairs and len(pairs) > max_pairs:
        pick = np.sort(np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False))
        pairs = pairs[pick]
    return pairs, spk[pairs[:, 0]] == spk[pairs[:, 1]]


def cosine_scores(emb: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of ``emb`` named by each pair."""
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return np.einsum("ij,ij->i", unit[pairs[:, 0]], unit[pairs[:, 1]])


def center_by_recording(emb: np.ndarray, segments: Sequence[Segment]) -> np.ndarray:
    """Subtract from each embedding the mean of its recording's, as linking does (> 2 items)."""
    out = emb.copy()
    reco = np.array([s.recording for s in segments])
    for r in np.unique(reco):
        rows = reco == r
        if rows.sum() > 2:
            out[rows] -= emb[rows].mean(0, keepdims=True)
    return out


def _wav_entry(entry: str, data_dir: Path) -> str:
    """A relative wav path as given if it exists, else relative to the first parent of the data dir that has it."""
    path = Path(entry.strip())
    if entry.strip().endswith("|") or path.is_absolute() or path.exists():
        return entry
    for parent in data_dir.resolve().parents:
        if (parent / path).exists():
            return str(parent / path)
    return entry


def load_embedders(args: argparse.Namespace) -> Dict[str, Tuple[EmbedFn, int]]:
    """The embedders asked for that can be built: ``{name: (embed, sample rate)}``."""
    out: Dict[str, Tuple[EmbedFn, int]] = {}
    for name in args.embedders:
        t0 = time.perf_counter()
        try:
            if name == "model":
                from espnet_tagspeech.decode.voices import SpeakerStreamEmbedder

                if args.model:
                    from espnet_tagspeech.decode.speech2tags import Speech2Tags

                    s2t = Speech2Tags.from_pretrained(args.model, device=args.device)
                    emb = SpeakerStreamEmbedder.from_model(s2t.model, args.device)
                elif args.train_config:
                    emb = SpeakerStreamEmbedder(args.train_config, args.model_file, args.device)
                else:
                    logger.warning("skipping model: give --model or --train_config/--model_file")
                    continue
                out[name] = (emb, int(emb.sample_rate))
            elif name == "fbank":
                from espnet_tagspeech.decode.voices import fbank_embedding

                out[name] = (fbank_embedding, 16000)
            elif name == "resemblyzer":  # the linking's own GE2E prints (link: resemblyzer)
                from espnet_tagspeech.decode.voices import ResemblyzerEmbedder

                emb = ResemblyzerEmbedder(args.device)
                out[name] = (emb, emb.sample_rate)
        except (ImportError, ValueError) as e:
            logger.warning("skipping %s: %s", name, e)
            continue
        logger.info("loaded %s in %.1f s", name, time.perf_counter() - t0)
    return out


def embed_segments(
    segments: Sequence[Segment], wav_scp: Dict[str, str], embedders: Dict[str, Tuple[EmbedFn, int]]
) -> Tuple[Dict[str, np.ndarray], Dict[str, float]]:
    """Embed every segment with every embedder.

    Returns:
        ``({name: (n, dim) embeddings}, {name: seconds spent embedding})``.
    """
    from espnet_tagspeech.data.kaldi import load_audio
    from espnet_tagspeech.decode.meeting import to_model_audio

    vecs: Dict[str, List[np.ndarray]] = {name: [] for name in embedders}
    seconds = {name: 0.0 for name in embedders}
    by_reco: Dict[str, List[Segment]] = defaultdict(list)
    for seg in segments:
        by_reco[seg.recording].append(seg)
    for k, reco in enumerate(sorted(by_reco)):
        raw, rate = load_audio(wav_scp[reco], reco)
        for name, (embed, emb_rate) in embedders.items():
            audio = to_model_audio(raw, rate, reco, emb_rate)
            t0 = time.perf_counter()
            for seg in by_reco[reco]:
                chunk = audio[int(seg.start * emb_rate): int(seg.end * emb_rate)]
                vecs[name].append(np.asarray(embed(chunk, emb_rate), dtype=np.float64).ravel())
            seconds[name] += time.perf_counter() - t0
        logger.info("embedded %s (%d/%d)", reco, k + 1, len(by_reco))
    return {name: np.stack(v) for name, v in vecs.items()}, seconds


def _fmt_eer(scores: np.ndarray, is_target: np.ndarray) -> str:
    if not is_target.any() or is_target.all():
        return "n/a"
    return f"{100 * equal_error_rate(scores, is_target):.2f}"


def results_table(
    segments: Sequence[Segment],
    embeddings: Dict[str, np.ndarray],
    seconds: Dict[str, float],
    modes: Dict[str, Tuple[np.ndarray, np.ndarray]],
    center: str,
) -> str:
    """The markdown table of EERs per embedder (and centred variant)."""
    lines = [
        "| embedder | segments | target pairs | non-target pairs | EER within meeting % | EER across % | embed seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    counts = {m: (int(t.sum()), int((~t).sum())) for m, (_, t) in modes.items()}
    tar = " / ".join(str(counts[m][0]) if m in counts else "-" for m in ("within", "across"))
    non = " / ".join(str(counts[m][1]) if m in counts else "-" for m in ("within", "across"))
    for name, emb in embeddings.items():
        variants = {"none": [(name, emb)], "recording": [(f"{name}+centre", center_by_recording(emb, segments))]}
        variants["both"] = variants["none"] + variants["recording"]
        for label, vec in variants[center]:
            eer = {m: _fmt_eer(cosine_scores(vec, p), t) for m, (p, t) in modes.items()}
            lines.append(
                f"| {label} | {len(segments)} | {tar} | {non} | {eer.get('within', 'n/a')} "
                f"| {eer.get('across', 'n/a')} | {seconds[name]:.1f} |"
            )
    return "\n".join(lines) + "\n"


def get_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True, help="Kaldi data dir with rttm and wav.scp")
    p.add_argument("--embedders", nargs="+", choices=EMBEDDERS, default=list(EMBEDDERS))
    p.add_argument("--model", default=None, help="packed model (zip) for the model embedder")
    p.add_argument("--train_config", default=None, help="or the model's config.yaml ...")
    p.add_argument("--model_file", default=None, help="... and its weights")
    p.add_argument("--device", default="cpu")
    p.add_argument("--labels", choices=("global", "local"), default="global", help="global: a label names "
                   "one voice in every recording (simulated meetings); local: no across-meeting pairs")
    p.add_argument("--min_sec", type=float, default=1.0, help="shortest segment, after trimming")
    p.add_argument("--trim", type=float, default=0.1, help="seconds dropped at both ends")
    p.add_argument("--max_per_speaker", type=int, default=5, help="segments per speaker and recording (0: all)")
    p.add_argument("--max_recordings", type=int, default=0, help="use the first N recordings (0: all)")
    p.add_argument("--max_pairs", type=int, default=200000, help="random sample of pairs per mode (0: all)")
    p.add_argument("--center", choices=("none", "recording", "both"), default="both",
                   help="score raw embeddings, embeddings centred per recording, or both")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num_threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", default="exp/bench_speaker_eer/RESULTS.md", help="markdown report")
    p.add_argument("--log_level", default="INFO")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.formats import read_rttm
    from espnet_tagspeech.data.kaldi import read_wav_scp

    torch.set_num_threads(args.num_threads)
    data_dir = Path(args.data_dir)
    wav_scp = {k: _wav_entry(v, data_dir) for k, v in read_wav_scp(data_dir / "wav.scp").items()}
    turns = [t for t in read_rttm(data_dir / "rttm") if t.recording in wav_scp]
    recos = sorted({t.recording for t in turns})
    if args.max_recordings:
        recos = recos[: args.max_recordings]
        turns = [t for t in turns if t.recording in set(recos)]
    segments = select_segments(turns, args.min_sec, args.trim, args.max_per_speaker, args.seed)
    n_spk, n_reco = len({s.speaker for s in segments}), len({s.recording for s in segments})
    logger.info("%d segments (%.0f s) of %d speakers in %d recordings", len(segments),
                sum(s.end - s.start for s in segments), n_spk, n_reco)
    if len(segments) < 2:
        logger.error("fewer than two segments: nothing to compare")
        return 1
    modes = {"within": pair_indices(segments, "within", args.max_pairs, args.seed)}
    if args.labels == "global":
        modes["across"] = pair_indices(segments, "across", args.max_pairs, args.seed)
    embedders = load_embedders(args)
    if not embedders:
        logger.error("no embedder available")
        return 1
    embeddings, seconds = embed_segments(segments, wav_scp, embedders)
    table = results_table(segments, embeddings, seconds, modes, args.center)
    head = (
        f"# Speaker-embedding EER on {args.data_dir}\n\n"
        f"{len(segments)} segments of {n_spk} speakers in {n_reco} recordings: solo stretches of reference "
        f"turns, trimmed {args.trim} s at both ends, >= {args.min_sec} s, at most {args.max_per_speaker or 'all'} "
        f"per speaker and recording; pairs counted within / across meetings (speaker labels {args.labels}); "
        f"cosine similarity; `+centre`: embeddings minus their recording's mean.\n\n"
    )
    print(table, end="")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as f:
        f.write(head + table)
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
