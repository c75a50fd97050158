"""Pre-train the small random-init encoders of a TagSpeech model (stage 5).

Two optional parts, each with its own schedule, so that the paper's recipe
(pre-trained encoders frozen, projectors trained) can be run offline:

* ``semantic``: CTC on the semantic encoder, in the label order of the model's
  CTC head (``model_conf.ctc_order``): SOT (the cut's text-line words line
  after line, a newline between lines as the speaker-change symbol) or t-SOT
  (every word in the order it starts, on virtual channels; see
  :mod:`espnet_tagspeech.tsot`), whose word times come from the recordings'
  CTM (``--train_ctm``, channel = speaker) and turns from their RTTM;
* ``speaker``: frame-level speaker classification on the speaker encoder: for
  every frame, which of the training set's (global) speakers are active, read
  from the recordings' RTTM through the cuts' ``cut2reco`` (multi-label,
  binary cross-entropy).

A part frozen in the model config (the paper's recipe) is trained here all
the same; the main training then keeps it fixed.  Writes ``<output_dir>/init.pth`` (keys of the TagSpeech model, for
``tagspeech_train --init_param``) and ``pretrain_result.yaml``.  The ``--config``
yaml::

    model_config: conf/tuning/train_tagspeech_mini.yaml   # or --model_config
    batch_size: 8         # cuts per update, drawn at random
    # batch_sec: 84        # or: cuts of similar length, at most this many padded seconds
    max_cut_sec: 20
    seed: 0
    semantic: {steps: 800, lr: 0.002, warmup: 50, decay: true}   # decay: cosine to 5 %
    speaker: {steps: 300, lr: 0.002}

Example::

    python -m espnet_tagspeech.bin.pretrain --config conf/pretrain_mini.yaml \\
        --train_dir dump/raw/train_cuts --valid_dir dump/raw/dev_cuts \\
        --train_rttm dump/raw/train/rttm --valid_rttm dump/raw/dev/rttm \\
        --train_ctm dump/raw/train/words.ctm --valid_ctm dump/raw/dev/words.ctm \\
        --tokenizer data/token/tokenizer.model --output_dir exp/pretrain
"""

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

_KEYS = {"model_config", "batch_size", "batch_sec", "max_cut_sec", "seed", "semantic", "speaker"}
_PART_KEYS = {"steps", "lr", "warmup", "decay"}


@dataclass
class PretrainCut:
    """One cut of the pre-training data."""

    key: str
    wav: np.ndarray
    ctc_ids: List[int]
    # (speaker index, start, end) in cut time; empty without an RTTM
    spans: List[Tuple[int, float, float]] = field(default_factory=list)


def _cut_spans(data_dir: Path, rttm: str, speakers: Dict[str, int]) -> Dict[str, List[Tuple[int, float, float]]]:
    """Speaker spans of every cut from the recordings' RTTM and ``cut2reco``."""
    from espnet_tagspeech.data.formats import read_rttm

    by_reco: Dict[str, list] = {}
    for t in read_rttm(rttm):
        by_reco.setdefault(t.recording, []).append(t)
    out = {}
    for key, (reco, start, end) in _read_cut2reco(data_dir).items():
        spans = []
        for t in by_reco.get(reco, []):
            s, e = max(t.start, start), min(t.end, end)
            if e > s and t.speaker in speakers:
                spans.append((speakers[t.speaker], s - start, e - start))
        out[key] = spans
    return out


def _read_cut2reco(data_dir: Path) -> Dict[str, Tuple[str, float, float]]:
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.kaldi import read_scp

    c2r = data_dir / "cut2reco"
    if not c2r.is_file():
        raise FileNotFoundError(f"{c2r}: missing (pre-training maps cuts to recordings)")
    out = {}
    for lineno, (key, value) in enumerate(read_scp(c2r).items(), 1):
        fields = value.split()
        try:
            out[key] = (fields[0], float(fields[1]), float(fields[2]))
        except (IndexError, ValueError):
            raise DataFormatError(str(c2r), lineno, f"key {key!r}: expected '<reco> <start> <end>'")
    return out


def timed_turns(rttm: str, ctm: str) -> Dict[str, list]:
    """Each recording's RTTM turns with their words from a CTM (channel = speaker).

    A word belongs to the turn of its speaker that holds its midpoint.

    Raises:
        DataFormatError: a CTM word inside no RTTM turn of its speaker (file and line).
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import read_ctm, read_rttm

    turns: Dict[Tuple[str, str], list] = {}
    for t in read_rttm(rttm):
        turns.setdefault((t.recording, t.speaker), []).append([t, []])
    for lineno, (reco, spk, w) in enumerate(read_ctm(ctm), 1):
        mid = 0.5 * (w.start + w.end)
        home = [x for x in turns.get((reco, spk), []) if x[0].start - 1e-3 <= mid <= x[0].end + 1e-3]
        if not home:
            raise DataFormatError(ctm, lineno, f"word {w.text!r} of {spk} at {w.start:.2f} s in "
                                               f"{reco} lies in no turn of {spk} in {rttm}")
        home[0][1].append(w)
    out: Dict[str, List] = {}
    for (reco, _), items in turns.items():
        for t, words in items:
            out.setdefault(reco, []).append(replace(t, words=tuple(sorted(words, key=lambda x: x.start))))
    return out


def cut_tsot_elements(data_dir: Path, rttm: str, ctm: str, channels: int) -> Dict[str, List[str]]:
    """t-SOT elements of every cut (``cut2reco``) from the recordings' RTTM and CTM.

    A cut keeps the words whose midpoint lies inside it, in cut time.
    """
    from espnet_tagspeech.data.turn import Turn, Word
    from espnet_tagspeech.tsot import serialize_tsot

    by_reco = timed_turns(rttm, ctm)
    out = {}
    for key, (reco, start, end) in _read_cut2reco(data_dir).items():
        cut = []
        for t in by_reco.get(reco, []):
            words = tuple(
                Word(w.text, max(0.0, w.start - start), max(0.0, w.end - start))
                for w in t.words if start <= 0.5 * (w.start + w.end) < end
            )
            if words:
                cut.append(Turn(key, t.speaker, words[0].start, words[-1].end, words, t.gender))
        out[key] = serialize_tsot(sorted(cut, key=lambda t: (t.start, t.end)), channels)
    return out


def load_cuts(
    data_dir: str,
    tokenizer,
    sample_rate: int,
    max_sec: float,
    rttm: Optional[str] = None,
    speakers: Optional[Dict[str, int]] = None,
    tsot: Optional[Dict[str, List[str]]] = None,
) -> List[PretrainCut]:
    """The cuts of a data dir not longer than ``max_sec``, with CTC ids and speaker spans.

    The CTC ids are the SOT transcript of the cut's target, or, given ``tsot``
    (t-SOT elements per cut key), the labels of those elements.
    """
    from tqdm import tqdm

    from espnet_tagspeech.data.kaldi import load_audio, read_text, read_wav_scp
    from espnet_tagspeech.serialization import line_to_target
    from espnet_tagspeech.tasks.preprocessor import check_waveform, sot_transcript
    from espnet_tagspeech.tsot import element_labels

    d = Path(data_dir)
    wavs, texts = read_wav_scp(d / "wav.scp"), read_text(d / "text")
    spans = _cut_spans(d, rttm, speakers) if rttm else {}
    out = []
    for key, entry in tqdm(wavs.items(), desc=f"load {d.name}", unit="cut", mininterval=2):
        if key not in texts:
            continue
        wav, rate = load_audio(entry, key=key)
        wav = check_waveform(wav, key, str(d / "wav.scp"), rate, sample_rate)
        if len(wav) > max_sec * sample_rate:
            continue
        if tsot is None:
            ids = tokenizer.encode(sot_transcript(line_to_target(texts[key])))
        elif key in tsot:
            ids = element_labels(tsot[key], tokenizer)[0]
        else:
            raise KeyError(f"{d / 'cut2reco'}: no entry for cut {key!r} (t-SOT targets)")
        out.append(PretrainCut(key, wav, ids, spans.get(key, [])))
    if not out:
        raise ValueError(f"{data_dir}: no usable cuts (wav.scp and text keys, <= {max_sec} s)")
    return out


def _batch(items: Sequence[PretrainCut], device):
    import torch

    lens = torch.tensor([len(c.wav) for c in items])
    speech = torch.zeros(len(items), int(lens.max()))
    tlen = torch.tensor([len(c.ctc_ids) for c in items])
    text = torch.full((len(items), max(1, int(tlen.max()))), -1, dtype=torch.long)
    for i, c in enumerate(items):
        speech[i, : len(c.wav)] = torch.from_numpy(c.wav)
        text[i, : len(c.ctc_ids)] = torch.tensor(c.ctc_ids, dtype=torch.long)
    return speech.to(device), lens.to(device), text.to(device), tlen.to(device)


def frame_labels(items: Sequence[PretrainCut], num_frames: int, frame_shift: float, num_speakers: int):
    """``(B, T, S)`` 0/1 activity of each speaker at each frame centre."""
    import torch

    lab = torch.zeros(len(items), num_frames, num_speakers)
    centres = (torch.arange(num_frames) + 0.5) * frame_shift
    for i, c in enumerate(items):
        for spk, s, e in c.spans:
            lab[i, (centres >= s) & (centres < e), spk] = 1.0
    return lab


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance of two label sequences."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _mean_finite(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _part_conf(conf: Dict, name: str) -> Optional[Dict]:
    part = conf.get(name)
    if part is None:
        return None
    if not isinstance(part, dict) or set(part) - _PART_KEYS:
        raise ValueError(f"pretrain config {name}: expected a mapping with keys {sorted(_PART_KEYS)}, got {part!r}")
    return part


def _lr_factor(step: int, warmup: int, steps: int, decay: bool) -> float:
    """Linear warm-up, then constant or (``decay``) cosine down to 5 % at the last step."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    if not decay:
        return 1.0
    done = (step - warmup) / max(1, steps - warmup - 1)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))


def duration_batches(durations: Sequence[float], max_padded_sec: float, rng) -> List[np.ndarray]:
    """One epoch of batches of similar-length cuts, in random order.

    The cuts are sorted by duration (with a +-10 % random jitter, so that the
    batches differ from epoch to epoch) and cut into runs whose padded length,
    cut count x longest cut, stays within ``max_padded_sec``; a cut longer than
    that is a batch of its own.  Against random batches of a fixed count, far
    less of every update is padding.

    Args:
        durations: Seconds of every cut.
        max_padded_sec: Budget of one batch.
        rng: ``numpy.random.Generator``.

    Returns:
        Index arrays into ``durations``; every index appears exactly once.
    """
    if max_padded_sec <= 0:
        raise ValueError(f"batch_sec must be > 0, got {max_padded_sec}")
    dur = np.asarray(durations, dtype=float)
    order = np.argsort(dur * rng.uniform(0.9, 1.1, len(dur)), kind="stable")
    batches, cur, longest = [], [], 0.0
    for i in order:
        if cur and max(longest, dur[i]) * (len(cur) + 1) > max_padded_sec:
            batches.append(np.asarray(cur))
            cur, longest = [], 0.0
        cur.append(int(i))
        longest = max(longest, float(dur[i]))
    if cur:
        batches.append(np.asarray(cur))
    return [batches[j] for j in rng.permutation(len(batches))]


def _batch_stream(train_set: Sequence[PretrainCut], bsz: int, batch_sec: Optional[float], rate: int, rng):
    """Endless index batches: ``bsz`` random cuts, or duration batches epoch after epoch."""
    if batch_sec is None:
        while True:
            yield rng.choice(len(train_set), size=min(bsz, len(train_set)), replace=False)
    durations = [len(c.wav) / rate for c in train_set]
    while True:
        yield from duration_batches(durations, batch_sec, rng)


def _train_loop(name: str, params, loss_fn, train_set, part: Dict, batches) -> List[float]:
    import torch
    from tqdm import tqdm

    lr, warmup = float(part.get("lr", 2e-3)), int(part.get("warmup", 50))
    steps, decay = int(part.get("steps", 400)), bool(part.get("decay", False))
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    t0 = time.time()
    for step in tqdm(range(steps), desc=name, unit="step", mininterval=5):
        for g in opt.param_groups:
            g["lr"] = lr * _lr_factor(step, warmup, steps, decay)
        idx = next(batches)
        loss = loss_fn([train_set[i] for i in idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0:
            logging.info("%s step %d (%.0f s): loss %.3f", name, step, time.time() - t0, float(loss))
    return losses


def pretrain(
    conf: Dict,
    train_dir: str,
    valid_dir: str,
    tokenizer: Optional[str],
    output_dir: str,
    device: str = "cpu",
    train_rttm: Optional[str] = None,
    valid_rttm: Optional[str] = None,
    train_ctm: Optional[str] = None,
    valid_ctm: Optional[str] = None,
) -> Dict[str, float]:
    """Run the configured pre-training parts; returns their first/last/valid losses.

    A model whose CTC head is time-ordered (``model_conf.ctc_order: time``) needs
    the recordings' RTTM and word CTM of both sets for its t-SOT targets.
    """
    import torch
    import yaml

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.formats import read_rttm
    from espnet_tagspeech.decode.ctc.alignment import collapse_path
    from espnet_tagspeech.model.tiny import build_args
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    unknown = set(conf) - _KEYS
    if unknown or "model_config" not in conf:
        raise ValueError(f"pretrain config: unknown keys {sorted(unknown)} or no model_config; valid: {sorted(_KEYS)}")
    sem_part, spk_part = _part_conf(conf, "semantic"), _part_conf(conf, "speaker")
    if sem_part is None and spk_part is None:
        raise ValueError("pretrain config: nothing to do (give 'semantic' and/or 'speaker')")
    if spk_part is not None and not train_rttm:
        raise ValueError("speaker pre-training needs --train_rttm (global speaker labels)")
    args = build_args(conf["model_config"])
    # the parts pre-trained here train here, whatever the main training does with them
    if sem_part is not None:
        args.semantic_encoder_conf = {**(args.semantic_encoder_conf or {}), "freeze": False}
    if spk_part is not None:
        args.speaker_encoder_conf = {**(args.speaker_encoder_conf or {}), "freeze": False}
    if tokenizer:
        args.llm_conf = {**args.llm_conf, "tokenizer": tokenizer}
    torch.manual_seed(int(conf.get("seed", 0)))
    model = TagSpeechTask.build_model(args).to(device)
    tok = model.llm.tokenizer
    rate = int(getattr(args, "sample_rate", 16000))
    max_sec = float(conf.get("max_cut_sec", 20.0))
    bsz = int(conf.get("batch_size", 8))
    batch_sec = float(conf["batch_sec"]) if conf.get("batch_sec") is not None else None
    rng = np.random.default_rng(int(conf.get("seed", 0)))
    speakers: Dict[str, int] = {}
    if spk_part is not None:
        speakers = {s: i for i, s in enumerate(sorted({t.speaker for t in read_rttm(train_rttm)}))}
        logging.info("speaker pre-training over %d training speakers", len(speakers))
    tsot_train = tsot_valid = None
    if sem_part is not None and model.ctc_order == "time":
        for name, value in (("--train_rttm", train_rttm), ("--valid_rttm", valid_rttm),
                            ("--train_ctm", train_ctm), ("--valid_ctm", valid_ctm)):
            if not value:
                raise ValueError(f"t-SOT pre-training (model_conf ctc_order: time) needs {name} "
                                 "(recording turns and word times)")
        tsot_train = cut_tsot_elements(Path(train_dir), train_rttm, train_ctm, model.ctc_channels)
        tsot_valid = cut_tsot_elements(Path(valid_dir), valid_rttm, valid_ctm, model.ctc_channels)
        logging.info("t-SOT targets on %d channels", model.ctc_channels)
    train_set = load_cuts(train_dir, tok, rate, max_sec, train_rttm if spk_part else None, speakers,
                          tsot_train)
    valid_set = load_cuts(valid_dir, tok, rate, max_sec, valid_rttm if spk_part else None, speakers,
                          tsot_valid)
    result: Dict[str, float] = {}
    state: Dict[str, torch.Tensor] = {}

    if sem_part is not None:
        enc = model.semantic_encoder
        head = model.ctc_head or torch.nn.Linear(enc.output_size(), tok.vocab_size + 1)
        head.to(device)

        def ctc_loss(items):
            speech, lens, text, tlen = _batch(items, device)
            feats, flen = enc(speech, lens)
            logp = torch.log_softmax(head(feats).float(), -1).transpose(0, 1)
            return torch.nn.functional.ctc_loss(logp, text.clamp(min=0), flen, tlen,
                                                blank=logp.shape[-1] - 1, zero_infinity=True)

        params = [p for p in list(enc.parameters()) + list(head.parameters()) if p.requires_grad]
        enc.train()
        name = "t-SOT-CTC" if model.ctc_order == "time" else "SOT-CTC"
        losses = _train_loop(name, params, ctc_loss, train_set, sem_part,
                             _batch_stream(train_set, bsz, batch_sec, rate, rng))
        enc.eval()
        valid, errors, total = [], 0, 0
        with torch.no_grad():
            for i in range(0, len(valid_set), bsz):
                items = valid_set[i : i + bsz]
                valid.append(float(ctc_loss(items)))
                speech, lens, _, _ = _batch(items, device)
                feats, flen = enc(speech, lens)
                best = head(feats).argmax(-1).cpu()
                for c, path, n in zip(items, best, flen.tolist()):
                    hyp = collapse_path(path[:n].tolist(), head.out_features - 1)
                    errors += edit_distance(hyp, c.ctc_ids)
                    total += len(c.ctc_ids)
        result.update(semantic_first_loss=losses[0], semantic_last_loss=float(np.mean(losses[-10:])),
                      semantic_valid_loss=float(np.mean(valid)),
                      # greedy CTC token error rate of the valid cuts
                      semantic_valid_ter=errors / max(1, total))
        state.update({f"semantic_encoder.{k}": v.cpu() for k, v in enc.state_dict().items()})
        if model.ctc_head is not None:
            state.update({f"ctc_head.{k}": v.cpu() for k, v in head.state_dict().items()})

    if spk_part is not None:
        spk = model.speaker_encoder
        head = torch.nn.Linear(spk.output_size(), len(speakers)).to(device)

        def spk_loss(items, return_acc: bool = False):
            speech, lens, _, _ = _batch(items, device)
            feats, flen = spk(speech, lens)
            lab = frame_labels(items, feats.shape[1], spk.frame_shift, len(speakers)).to(device)
            valid = (torch.arange(feats.shape[1], device=device)[None] < flen[:, None]).float()
            logits = head(feats)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, lab, reduction="none")
            loss = (bce.mean(-1) * valid).sum() / valid.sum()
            if not return_acc:
                return loss
            single = (lab.sum(-1) == 1) & (valid > 0)
            acc = (logits.argmax(-1) == lab.argmax(-1))[single].float().mean()
            return loss, acc

        params = [p for p in list(spk.parameters()) + list(head.parameters()) if p.requires_grad]
        spk.train()
        losses = _train_loop("speaker", params, spk_loss, train_set, spk_part,
                             _batch_stream(train_set, bsz, batch_sec, rate, rng))
        spk.eval()
        with torch.no_grad():
            vals = [spk_loss(valid_set[i : i + bsz], True) for i in range(0, len(valid_set), bsz)]
        result.update(speaker_first_loss=losses[0], speaker_last_loss=float(np.mean(losses[-10:])),
                      speaker_valid_loss=float(np.mean([float(v[0]) for v in vals])),
                      # nan when the valid cuts carry no speaker labels (no --valid_rttm)
                      speaker_valid_frame_acc=_mean_finite([float(v[1]) for v in vals]))
        state.update({f"speaker_encoder.{k}": v.cpu() for k, v in spk.state_dict().items()})

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "init.pth", "wb") as f:
        torch.save(state, f)
    with atomic_write(out / "pretrain_result.yaml") as f:
        yaml.safe_dump(result, f)
    logging.info("wrote %s: %s", out / "init.pth", result)
    return result


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="pretrain yaml (model_config, semantic, speaker, ...)")
    p.add_argument("--train_dir", required=True, help="cuts data dir (wav.scp, text, cut2reco)")
    p.add_argument("--valid_dir", required=True)
    p.add_argument("--train_rttm", default=None, help="recording RTTM of the training set (speaker part)")
    p.add_argument("--valid_rttm", default=None)
    p.add_argument("--train_ctm", default=None,
                   help="recording word CTM of the training set, channel = speaker (t-SOT targets)")
    p.add_argument("--valid_ctm", default=None)
    p.add_argument("--model_config", default=None,
                   help="the training config of the model (overrides the yaml's model_config)")
    p.add_argument("--tokenizer", default=None, help="overrides llm_conf.tokenizer")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--ngpu", type=int, default=0)
    return p


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point."""
    import yaml

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with open(args.config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    if args.model_config:
        conf["model_config"] = args.model_config
    pretrain(conf, args.train_dir, args.valid_dir, args.tokenizer, args.output_dir,
             "cuda" if args.ngpu > 0 else "cpu", args.train_rttm, args.valid_rttm,
             args.train_ctm, args.valid_ctm)


if __name__ == "__main__":
    main(sys.argv[1:])
