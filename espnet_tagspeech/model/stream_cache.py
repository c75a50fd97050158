"""What the frozen encoders hand the trainable parts, and its on-disk form.

With both encoders frozen (the paper's recipe), a cut's encoder outputs never
change during training: the semantic frames, the CTC head's posteriors and
the speaker frames can be computed once per cut (stage 6,
:mod:`espnet_tagspeech.bin.dump_streams`) and read back as features, so that a
training step runs only the projectors and the LLM.  :class:`StreamFeatures`
is that hand-over, whether it comes from audio
(:meth:`~espnet_tagspeech.model.espnet_model.ESPnetTagSpeechModel.encode_streams`)
or from the dump (:meth:`StreamFeatures.from_batch`).

On disk the posteriors keep only their ``top_k`` largest entries per frame
(CTC posteriors are peaky: the rest carry almost no mass); everything is
float16 in Kaldi ark files (``kaldiio``'s numpy format), one scp per name.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

#: Data names of the dumped features (ESPnet ``--*_data_path_and_name_and_type``).
SEMANTIC = "semantic_feats"
SPEAKER = "speaker_feats"
CTC_IDS = "ctc_topk_ids"
CTC_PROBS = "ctc_topk_probs"
NAMES = (SEMANTIC, SPEAKER, CTC_IDS, CTC_PROBS)


@dataclass
class StreamFeatures:
    """Outputs of the frozen encoders for a padded batch.

    Attributes:
        semantic: ``(B, T, D_sem)`` semantic encoder frames.
        semantic_lengths: ``(B,)`` valid semantic frames.
        speaker: ``(B, T2, D_spk)`` speaker encoder frames.
        speaker_lengths: ``(B,)`` valid speaker frames.
        ctc_post: ``(B, T, V + 1)`` CTC posteriors of the semantic frames
            (blank last), or ``None`` for a model without a CTC head.
    """

    semantic: torch.Tensor
    semantic_lengths: torch.Tensor
    speaker: torch.Tensor
    speaker_lengths: torch.Tensor
    ctc_post: Optional[torch.Tensor] = None

    def to_numpy(self, i: int, top_k: int) -> Dict[str, "object"]:
        """Item ``i`` as the float16 / int16 arrays that are dumped, by data name."""
        n, m = int(self.semantic_lengths[i]), int(self.speaker_lengths[i])
        out = {
            SEMANTIC: self.semantic[i, :n].float().cpu().numpy().astype("float16"),
            SPEAKER: self.speaker[i, :m].float().cpu().numpy().astype("float16"),
        }
        if self.ctc_post is not None:
            ids, probs = topk_posteriors(self.ctc_post[i, :n], top_k)
            out[CTC_IDS] = ids.cpu().numpy().astype("int16")
            out[CTC_PROBS] = probs.float().cpu().numpy().astype("float16")
        return out

    @classmethod
    def from_batch(cls, batch: Dict[str, torch.Tensor], num_labels: Optional[int]) -> "StreamFeatures":
        """Rebuild the features from a collated batch of dumped arrays.

        Args:
            batch: Holds ``semantic_feats``, ``speaker_feats`` (and their
                ``*_lengths``), plus ``ctc_topk_ids`` / ``ctc_topk_probs`` when
                ``num_labels`` is given.
            num_labels: CTC labels incl. the blank (``None``: no CTC head).

        Raises:
            ValueError: a name missing from the batch, or lengths that disagree.
        """
        need = [SEMANTIC, SPEAKER] + ([CTC_IDS, CTC_PROBS] if num_labels else [])
        missing = [k for k in need if k not in batch]
        if missing:
            raise ValueError(
                f"dumped stream features lack {missing}: pass every one of {need} "
                "(espnet_tagspeech.bin.dump_streams writes them) or the speech"
            )
        sem_len = batch[f"{SEMANTIC}_lengths"]
        post = None
        if num_labels:
            if not torch.equal(batch[f"{CTC_IDS}_lengths"], sem_len):
                raise ValueError("ctc_topk_ids and semantic_feats have different lengths")
            post = dense_posteriors(batch[CTC_IDS], batch[CTC_PROBS], num_labels)
        return cls(batch[SEMANTIC].float(), sem_len, batch[SPEAKER].float(),
                   batch[f"{SPEAKER}_lengths"], post)


def topk_posteriors(post: torch.Tensor, top_k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``top_k`` largest posteriors of each frame: ``(ids, probs)``, best first."""
    k = min(int(top_k), post.shape[-1])
    probs, ids = torch.topk(post.float(), k, dim=-1)
    return ids, probs


def dense_posteriors(ids: torch.Tensor, probs: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Undo :func:`topk_posteriors`: ``(B, T, num_labels)`` with zeros elsewhere.

    Padding ids (negative, from the collate function) contribute nothing.
    """
    valid = ids >= 0
    dense = probs.new_zeros(*ids.shape[:-1], num_labels).float()
    dense.scatter_add_(-1, ids.clamp(min=0).long(), (probs.float() * valid))
    return dense


def dump_stream_features(
    model,
    data_dir: str,
    out_dir: str,
    batch_sec: float = 120.0,
    top_k: int = 8,
) -> int:
    """Run the frozen encoders over every cut of a data dir and dump their outputs.

    Writes ``<out_dir>/<name>.ark`` + ``<name>.scp`` for every name of
    :data:`NAMES` the model needs, and ``<out_dir>/feats_info.yaml``.  Files
    are written under temporary names and renamed at the end, so an
    interrupted dump leaves the previous one (or nothing) behind; the scp
    files name the arks by the ``out_dir`` given (keep it recipe-relative).

    Args:
        model: A built :class:`~espnet_tagspeech.model.espnet_model.ESPnetTagSpeechModel`
            with both encoders frozen (their outputs must not change afterwards).
        data_dir: Kaldi data dir with ``wav.scp`` (and ``utt2dur`` for batching).
        out_dir: Where the features go.
        batch_sec: Padded seconds of audio per encoder batch.
        top_k: Posteriors kept per semantic frame.

    Returns:
        The number of cuts dumped.

    Raises:
        ValueError: an encoder that still trains.
        DataFormatError: unreadable or malformed audio, naming the key.
    """
    import os
    from pathlib import Path

    import kaldiio
    import numpy as np
    import yaml
    from tqdm import tqdm

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.kaldi import load_audio, read_durations, read_wav_scp
    from espnet_tagspeech.tasks.preprocessor import check_waveform

    # (a frozen WavLM's layer weights are trainable, but training on dumped
    # features never runs the encoder: they keep the values they are dumped with)
    for name in ("semantic_encoder", "speaker_encoder"):
        if not getattr(model, name).frozen:
            raise ValueError(f"model {name} is not frozen (freeze: true): its outputs cannot be dumped")
    d, out = Path(data_dir), Path(out_dir)
    wavs = read_wav_scp(d / "wav.scp")
    durs = read_durations(d / "utt2dur") if (d / "utt2dur").is_file() else {}
    keys = sorted(wavs, key=lambda k: (durs.get(k, 0.0), k))
    names = [SEMANTIC, SPEAKER] + ([CTC_IDS, CTC_PROBS] if model.ctc_labels else [])
    out.mkdir(parents=True, exist_ok=True)
    # feats_info.yaml marks a complete dump: gone until this one is complete
    (out / "feats_info.yaml").unlink(missing_ok=True)
    tmp = {n: (out / f".{n}.ark.tmp", out / f".{n}.scp.tmp") for n in names}
    writers = {
        n: kaldiio.WriteHelper(f"ark,scp:{a},{s}", write_function="numpy") for n, (a, s) in tmp.items()
    }
    rate = model.sample_rate
    model.eval()
    done = 0
    try:
        with tqdm(total=len(keys), desc=f"dump {d.name}", unit="cut", mininterval=5) as bar:
            i = 0
            while i < len(keys):
                batch, longest = [], 0.0
                while i < len(keys):
                    wav, fs = load_audio(wavs[keys[i]], key=keys[i])
                    wav = check_waveform(wav, keys[i], str(d / "wav.scp"), fs, rate)
                    longest_new = max(longest, len(wav) / rate)
                    if batch and longest_new * (len(batch) + 1) > batch_sec:
                        break
                    batch.append((keys[i], wav))
                    longest = longest_new
                    i += 1
                lens = torch.tensor([len(w) for _, w in batch])
                speech = torch.zeros(len(batch), int(lens.max()))
                for j, (_, w) in enumerate(batch):
                    speech[j, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
                with torch.no_grad():
                    feats = model.encode_streams(speech, lens)
                for j, (key, _) in enumerate(batch):
                    for n, arr in feats.to_numpy(j, top_k).items():
                        writers[n](key, arr)
                done += len(batch)
                bar.update(len(batch))
    finally:
        for w in writers.values():
            w.close()
    for n, (a, s) in tmp.items():
        ark = out / f"{n}.ark"
        os.replace(a, ark)
        with open(s, encoding="utf-8") as f, atomic_write(out / f"{n}.scp") as g:
            for line in f:
                key, loc = line.rstrip("\n").split(" ", 1)
                g.write(f"{key} {ark}:{loc.rsplit(':', 1)[1]}\n")
        os.unlink(s)
    info = {"cuts": done, "names": names, "top_k": int(top_k),
            "semantic_frame_shift": float(model.semantic_encoder.frame_shift),
            "speaker_frame_shift": float(model.speaker_encoder.frame_shift)}
    with atomic_write(out / "feats_info.yaml") as f:
        yaml.safe_dump(info, f)
    return done
