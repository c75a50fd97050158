"""The two pre-training objectives of stage 5, one class each.

* :class:`SemanticCtcObjective`: CTC on the semantic encoder, in the label
  order of the model's CTC head (``model_conf.ctc_order``): SOT (line after
  line, a newline between lines as the speaker-change symbol) or t-SOT (every
  word in the order it starts, on virtual channels; :mod:`espnet_tagspeech.tsot`).
* :class:`SpeakerActivityObjective`: for every frame of the speaker encoder,
  which of the training set's speakers are active (multi-label binary
  cross-entropy over a linear head).

Each objective names the modules it trains, gives the loss of a batch of
:class:`~espnet_tagspeech.pretrain.data.PretrainCut`, its valid metrics, and
the state it hands to the TagSpeech model (keys as in the model, for
``tagspeech_train --init_param``).
"""

from dataclasses import replace
from typing import Dict, List, Optional, Sequence

import numpy as np

from espnet_tagspeech.pretrain.data import PretrainCut, frame_labels, make_batch


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


class SemanticCtcObjective:
    """CTC on the semantic encoder through the model's CTC head (or a temporary one).

    Args:
        model: The TagSpeech model (``semantic_encoder``, optional ``ctc_head``).
        vocab_size: Tokenizer size (a temporary head has ``vocab_size + 1`` outputs, blank last).
        device: Torch device.
    """

    prefix = "semantic"

    def __init__(self, model, vocab_size: int, device, sample_rate: int = 16000,
                 speed_perturb: Optional[Sequence[float]] = None, mel_warp: float = 0.0) -> None:
        import torch

        self.sample_rate = sample_rate
        self.speed_perturb = list(speed_perturb or [])
        self.mel_warp = float(mel_warp)
        self.encoder = model.semantic_encoder
        if self.mel_warp and not getattr(self.encoder, "mel_warpable", False):
            raise ValueError("semantic: mel_warp needs a WavLM semantic encoder with frontend: fbank")
        self.keep_head = model.ctc_head is not None
        self.head = (model.ctc_head or torch.nn.Linear(self.encoder.output_size(), vocab_size + 1)).to(device)
        self.device = device
        self.name = "t-SOT-CTC" if model.ctc_order == "time" else "SOT-CTC"

    @property
    def modules(self) -> List:
        """The modules trained (their state is what a checkpoint saves)."""
        return [self.encoder, self.head]

    def perturbed(self, items: Sequence[PretrainCut], rng) -> List[PretrainCut]:
        """The cuts played at speeds drawn from ``speed_perturb`` (same labels)."""
        import torch
        import torchaudio

        out = []
        for c, f in zip(items, rng.choice(self.speed_perturb, size=len(items))):
            if f == 1.0:
                out.append(c)
                continue
            # read as if sampled at f x the rate, then back to the rate: f x faster
            with torch.autocast("cpu", enabled=False):  # the audio stays float32 under autocast
                wav = torchaudio.functional.resample(torch.from_numpy(c.wav), int(round(self.sample_rate * f)),
                                                     self.sample_rate)
            out.append(replace(c, wav=wav.numpy()))
        return out

    def loss(self, items: Sequence[PretrainCut], rng=None):
        """Mean CTC loss of a batch (augmented when given ``rng``: ``speed_perturb``, ``mel_warp``)."""
        import contextlib

        import torch

        if rng is not None and self.speed_perturb:
            items = self.perturbed(items, rng)
        speech, lens, text, tlen = make_batch(items, self.device)
        warp = contextlib.nullcontext()
        if rng is not None and self.mel_warp:
            factors = rng.uniform(1 - self.mel_warp, 1 + self.mel_warp, size=len(items))
            warp = self.encoder.mel_warp(torch.tensor(factors, dtype=torch.float32))
        with warp:
            feats, flen = self.encoder(speech, lens)
        logp = torch.log_softmax(self.head(feats).float(), -1).transpose(0, 1)
        return torch.nn.functional.ctc_loss(logp, text.clamp(min=0), flen, tlen,
                                            blank=logp.shape[-1] - 1, zero_infinity=True)

    def validate(self, valid_set: Sequence[PretrainCut], batch_size: int) -> Dict[str, float]:
        """Valid CTC loss and greedy token error rate."""
        import torch

        from espnet_tagspeech.decode.ctc.alignment import collapse_path

        losses, errors, total = [], 0, 0
        with torch.no_grad():
            for i in range(0, len(valid_set), batch_size):
                items = valid_set[i : i + batch_size]
                losses.append(float(self.loss(items)))
                speech, lens, _, _ = make_batch(items, self.device)
                feats, flen = self.encoder(speech, lens)
                best = self.head(feats).argmax(-1).cpu()
                for c, path, n in zip(items, best, flen.tolist()):
                    hyp = collapse_path(path[:n].tolist(), self.head.out_features - 1)
                    errors += edit_distance(hyp, c.ctc_ids)
                    total += len(c.ctc_ids)
        return {"semantic_valid_loss": float(np.mean(losses)),
                # greedy CTC token error rate of the valid cuts
                "semantic_valid_ter": errors / max(1, total)}

    def init_state(self) -> Dict:
        """The encoder's (and the model's CTC head's) weights under the model's keys."""
        state = {f"semantic_encoder.{k}": v.cpu() for k, v in self.encoder.state_dict().items()}
        if self.keep_head:
            state.update({f"ctc_head.{k}": v.cpu() for k, v in self.head.state_dict().items()})
        return state


class SpeakerActivityObjective:
    """Frame-level multi-label classification of the training speakers on the speaker encoder.

    With ``aam_weight`` > 0 an additive angular margin softmax (ESPnet's
    ``AAMSoftmax``) over the training speakers is added, on the frames of each
    single-speaker span pooled into one embedding: a classifier alone learns the
    training voices; the margin makes voices embed apart, which is what linking
    unseen voices needs.  Valid metrics: frame accuracy when the valid speakers
    are training speakers, and the equal error rate of span embeddings of
    other voices (``speaker_valid_eer``, cosine scores, all pairs).

    Args:
        model: The TagSpeech model (``speaker_encoder``).
        num_speakers: Speakers of the training set (global labels).
        device: Torch device.
        part: The speaker part's config (``aam_*``).
    """

    prefix = "speaker"
    name = "speaker"

    def __init__(self, model, num_speakers: int, device, part=None) -> None:
        import torch

        self.encoder = model.speaker_encoder
        self.num_speakers = num_speakers
        self.head = torch.nn.Linear(self.encoder.output_size(), num_speakers).to(device)
        self.device = device
        self.aam_weight = float(getattr(part, "aam_weight", 0.0))
        self.min_frames = max(1, int(round(getattr(part, "aam_min_sec", 0.5) / self.encoder.frame_shift)))
        self.aam = None
        if self.aam_weight > 0:
            from espnet2.spk.loss.aamsoftmax import AAMSoftmax

            self.aam = AAMSoftmax(self.encoder.output_size(), num_speakers, margin=part.aam_margin,
                                  scale=part.aam_scale).to(device)

    @property
    def modules(self) -> List:
        """The modules trained (their state is what a checkpoint saves)."""
        return [self.encoder, self.head] + ([self.aam] if self.aam is not None else [])

    def _forward(self, items: Sequence[PretrainCut], num_speakers: int):
        import torch

        speech, lens, _, _ = make_batch(items, self.device)
        feats, flen = self.encoder(speech, lens)
        lab = frame_labels(items, feats.shape[1], self.encoder.frame_shift, num_speakers).to(self.device)
        valid = (torch.arange(feats.shape[1], device=self.device)[None] < flen[:, None]).float()
        return feats, lab, valid

    def span_embeddings(self, items: Sequence[PretrainCut], feats, lab, valid):
        """Mean frames of every single-speaker span of ``min_frames`` or more, and its speaker."""
        import torch

        centres = (torch.arange(feats.shape[1], device=self.device) + 0.5) * self.encoder.frame_shift
        solo = (lab.sum(-1) == 1) & (valid > 0)
        embs, spks = [], []
        for i, c in enumerate(items):
            for spk, s, e in c.spans:
                mask = solo[i] & (centres >= s) & (centres < e) & (lab[i, :, spk] > 0)
                if int(mask.sum()) >= self.min_frames:
                    embs.append(feats[i, mask].mean(0))
                    spks.append(spk)
        if not embs:
            return feats.new_zeros(0, feats.shape[-1]), torch.zeros(0, dtype=torch.long)
        return torch.stack(embs), torch.tensor(spks, dtype=torch.long)

    def loss(self, items: Sequence[PretrainCut], rng=None):
        """Mean binary cross-entropy over the valid frames (+ weighted AAM; ``rng``: unused)."""
        import torch

        feats, lab, valid = self._forward(items, self.num_speakers)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(self.head(feats), lab, reduction="none")
        loss = (bce.mean(-1) * valid).sum() / valid.sum()
        if self.aam is not None:
            emb, spk = self.span_embeddings(items, feats, lab, valid)
            if len(spk):
                loss = loss + self.aam_weight * self.aam(emb, spk.to(self.device))[0]
        return loss

    def validate(self, valid_set: Sequence[PretrainCut], batch_size: int, num_valid_speakers: int = 0,
                 seen: bool = True) -> Dict[str, float]:
        """Valid loss, frame accuracy (training speakers) and span-embedding EER.

        Args:
            valid_set: Valid cuts; their span labels index the training speakers
                when ``seen``, else the valid set's own ``num_valid_speakers``.
            batch_size: Cuts per forward pass.
            num_valid_speakers: Label count of the valid spans when not ``seen``.
            seen: Whether the valid speakers are training speakers.
        """
        import torch

        from espnet_tagspeech.scoring.speaker import equal_error_rate

        n = self.num_speakers if seen else num_valid_speakers
        losses, accs, embs, spks = [], [], [], []
        with torch.no_grad():
            for i in range(0, len(valid_set), batch_size):
                items = valid_set[i : i + batch_size]
                feats, lab, valid = self._forward(items, n)
                emb, spk = self.span_embeddings(items, feats, lab, valid)
                embs.append(emb.cpu())
                spks.append(spk)
                if not seen:
                    continue
                logits = self.head(feats)
                bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, lab, reduction="none")
                losses.append(float((bce.mean(-1) * valid).sum() / valid.sum()))
                single = (lab.sum(-1) == 1) & (valid > 0)
                accs.append(float((logits.argmax(-1) == lab.argmax(-1))[single].float().mean()))
        out = {"speaker_valid_loss": float(np.mean(losses)) if losses else float("nan"),
               # nan when the valid speakers are not training speakers (or carry no labels)
               "speaker_valid_frame_acc": _mean_finite(accs)}
        emb = torch.nn.functional.normalize(torch.cat(embs), dim=-1).numpy()
        spk = torch.cat(spks).numpy()
        i, j = np.triu_indices(len(spk), k=1)
        target = spk[i] == spk[j]
        if target.any() and not target.all():  # same-voice and other-voice pairs both
            out["speaker_valid_eer"] = equal_error_rate(np.sum(emb[i] * emb[j], -1), target)
        return out

    def init_state(self) -> Dict:
        """The speaker encoder's weights under the model's keys (the heads are dropped)."""
        return {f"speaker_encoder.{k}": v.cpu() for k, v in self.encoder.state_dict().items()}
