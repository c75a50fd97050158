"""Speech2Tags: decode "who spoke what and when" with a trained TagSpeech model.

Build it from a training config and model file (ESPnet's
``TagSpeechTask.build_model_from_file``) or from a packed model
(:meth:`Speech2Tags.from_pretrained`: an ESPnet-style zip/tgz whose
``meta.yaml`` lists the config, the model file and extra files such as the
tokenizer, or a directory already unpacked).  Each waveform gives the raw
generated text, the parsed turns (recording time) and parse warnings.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.tasks.preprocessor import check_waveform


@dataclass
class TagResult:
    """The decoding of one waveform.

    Attributes:
        key: The input's id.
        text: Raw generated target string (chunks joined by newlines).
        turns: One turn per text line, in recording time.
        speaker_turns: Turns of the speaker block (diarization), recording time.
        warnings: Problems found while parsing the output.
    """

    key: str
    text: str
    turns: List[Turn] = field(default_factory=list)
    speaker_turns: List[Turn] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


class Speech2Tags:
    """Multi-speaker transcription with timestamps and speaker ids.

    Args:
        train_config: The ``config.yaml`` written by training.
        model_file: The trained ``.pth`` (ESPnet state dict).
        device: ``"cpu"`` or ``"cuda"``.
        max_new_tokens: Generation limit per input.
        beam_size: 1 for greedy search, more for beam search.
        segment_config: How a whole recording is cut into windows
            (:class:`~espnet_tagspeech.decode.meeting.SegmentConfig` or its dict).
        link_config: How the windows' speakers are linked into the
            recording's (:class:`~espnet_tagspeech.decode.link.LinkConfig` or its dict).
        ctc_time_pads: ``text_from="ctc"``: ``(start_pad, end_pad)`` seconds
            taken off a line's first CTC frame and added after its last (CTC
            fires inside a token, not at its edges).
        text_from: Who writes the ``<text>`` block: ``"llm"`` (the paper) or
            ``"ctc"``: the semantic stream's CTC head alone, lines and times from
            its alignment (:func:`espnet_tagspeech.decode.ctc.alignment.ctc_lines`; a
            time-ordered t-SOT head gives overlapping lines), handed to the LLM
            as the start of its answer, after which the LLM writes the speaker
            block.
        ctc_beam_size: ``text_from="ctc"``: prefix beam search of the CTC
            labels with this many prefixes (1: the greedy path).
        ngram_file: ``text_from="ctc"``: a token n-gram LM of transcript lines
            (:mod:`espnet_tagspeech.decode.ctc.ngram`, made in stage 4) fused into the
            beam search (:mod:`espnet_tagspeech.decode.ctc.search`).
        lm_weight: Weight of the n-gram LM.
        token_bonus: Score added per CTC label in the beam search.
        max_word_gap: ``text_from="ctc"``: split a line where its words pause
            longer than this (seconds; ``None``: never).
        voice_split: ``text_from="ctc"``: split a line where the voice of the
            speaker stream changes between two of its words by more than this
            cosine distance (:func:`espnet_tagspeech.decode.voices.split_lines_by_voice`;
            ``None``: never).
        speaker_constraint: ``text_from="llm"``: the speaker block may only list
            the text block's line ranges, each once
            (:class:`~espnet_tagspeech.decode.answer_search.SpeakerBlockConstraint`).
        ctc_word_bias: ``text_from="llm"``: score added to the tokens the CTC head
            emitted within a line's time span while the LLM writes that line
            (shallow fusion, :class:`~espnet_tagspeech.decode.answer_search.CtcWordBias`; 0: off).
        ctc_bias_margin: Seconds the line's span is widened by for ``ctc_word_bias``.

    Calling the object decodes a whole recording of any length (segmentation,
    batched window decoding, speaker linking: :mod:`espnet_tagspeech.decode.meeting`);
    :meth:`batch` decodes cuts or windows as they are, each with its own
    cut-local speakers.

    Example:
        >>> s2t = Speech2Tags.from_pretrained("exp/tagspeech_mini/mini_packed.zip")
        >>> result = s2t(meeting_wav, fs=16000, key="meeting1")
        >>> result.turns[0].speaker, result.turns[0].text
    """

    def __init__(
        self,
        train_config: Union[str, Path],
        model_file: Optional[Union[str, Path]] = None,
        device: str = "cpu",
        max_new_tokens: int = 800,
        beam_size: int = 1,
        segment_config=None,
        link_config=None,
        ctc_time_pads: Sequence[float] = (0.0, 0.0),
        text_from: str = "llm",
        ctc_beam_size: int = 1,
        ngram_file: Optional[Union[str, Path]] = None,
        lm_weight: float = 0.0,
        token_bonus: float = 0.0,
        max_word_gap: Optional[float] = None,
        voice_split: Optional[float] = None,
        speaker_constraint: bool = False,
        ctc_word_bias: float = 0.0,
        ctc_bias_margin: float = 0.5,
    ) -> None:
        from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

        model, args = TagSpeechTask.build_model_from_file(train_config, model_file, device)
        model.eval()
        self.model = model
        self.device = device
        self.sample_rate = int(getattr(args, "sample_rate", 16000))
        self.max_new_tokens = max_new_tokens
        self.beam_size = beam_size
        from espnet_tagspeech.decode.link import LinkConfig
        from espnet_tagspeech.decode.meeting import SegmentConfig

        if isinstance(segment_config, dict):
            segment_config = SegmentConfig.from_dict(segment_config)
        if isinstance(link_config, dict):
            link_config = LinkConfig.from_dict(link_config)
        self.segment_config = segment_config or SegmentConfig()
        self.link_config = link_config or LinkConfig()
        if text_from not in ("llm", "ctc"):
            raise ValueError(f"text_from must be 'llm' or 'ctc', got {text_from!r}")
        if text_from == "ctc" and model.ctc_head is None:
            raise ValueError("text_from 'ctc': the model has no CTC head")
        self.text_from = text_from
        if ctc_beam_size < 1:
            raise ValueError(f"ctc_beam_size must be >= 1, got {ctc_beam_size}")
        self.ctc_beam_size = int(ctc_beam_size)
        self.ngram = None
        if ngram_file:
            from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM

            self.ngram = TokenNgramLM.load(ngram_file)
            if self.ngram.vocab_size != model.llm.tokenizer.vocab_size:
                raise ValueError(f"{ngram_file}: LM of {self.ngram.vocab_size} tokens, the model's "
                                 f"tokenizer has {model.llm.tokenizer.vocab_size}")
        self.lm_weight = float(lm_weight)
        self.token_bonus = float(token_bonus)
        if max_word_gap is not None and max_word_gap <= 0:
            raise ValueError(f"max_word_gap must be positive, got {max_word_gap}")
        self.max_word_gap = max_word_gap
        if voice_split is not None and voice_split <= 0:
            raise ValueError(f"voice_split must be a positive cosine distance, got {voice_split}")
        self.voice_split = voice_split
        if len(ctc_time_pads) != 2 or min(ctc_time_pads) < 0:
            raise ValueError(f"ctc_time_pads must be two non-negative seconds, got {ctc_time_pads}")
        if ctc_word_bias and model.ctc_head is None:
            raise ValueError("ctc_word_bias: the model has no CTC head")
        self.speaker_constraint = bool(speaker_constraint)
        self.ctc_word_bias = float(ctc_word_bias)
        self.ctc_bias_margin = float(ctc_bias_margin)
        self.ctc_time_pads = (float(ctc_time_pads[0]), float(ctc_time_pads[1]))

    @classmethod
    def from_pretrained(
        cls, path: Union[str, Path], cache_dir: Optional[Union[str, Path]] = None, **kwargs
    ) -> "Speech2Tags":
        """Build from a packed model (zip / tgz) or an unpacked directory.

        The packed decoding config (``inference_config``) and n-gram LM
        (``ngram_file``), when present, give the defaults: the zip decodes as
        the recipe's stage 8 did.

        Args:
            path: The archive, or a directory holding ``meta.yaml``.
            cache_dir: Where archives are unpacked (default: beside the archive).
            **kwargs: Passed to the constructor (``beam_size``, ...); they win
                over the packed config.
        """
        files = resolve_packed(path, cache_dir)
        defaults: dict = {}
        if "inference_config" in files:
            import yaml

            with open(files["inference_config"], encoding="utf-8") as f:
                defaults = decode_kwargs(yaml.safe_load(f) or {})
        if "ngram_file" in files:
            defaults["ngram_file"] = files["ngram_file"]
        if "link_config" in files:
            from espnet_tagspeech.decode.link import LinkConfig

            defaults["link_config"] = LinkConfig.from_yaml(files["link_config"])
        return cls(files["train_config"], files.get("model_file"), **{**defaults, **kwargs})

    def __call__(
        self, speech: np.ndarray, fs: Optional[int] = None, key: str = "meeting",
        batch_size: int = 8, progress: bool = True,
    ) -> TagResult:
        """Decode a whole recording of any length, with one speaker label per person.

        Args:
            speech: The recording, mono (or ``(L, C)``: channel 0 is decoded).
            fs: Its sample rate (default: the model's); other rates are resampled.
            key: Recording id of the returned turns.
            batch_size: Windows decoded per call.
            progress: Show a progress bar.

        Raises:
            DataFormatError: empty or non-finite audio, naming ``key``.
        """
        from espnet_tagspeech.decode.meeting import decode_meeting

        return decode_meeting(self, speech, fs or self.sample_rate, key, self.segment_config,
                              self.link_config, batch_size, progress=progress)

    def batch(
        self,
        speeches: Sequence[np.ndarray],
        fs: Optional[int] = None,
        keys: Optional[Sequence[str]] = None,
        recordings: Optional[Sequence[str]] = None,
        offsets: Optional[Sequence[float]] = None,
    ) -> List[TagResult]:
        """Decode several waveforms at once (same results as one by one).

        Args:
            speeches: 1-D waveforms.
            fs: Their sample rate when known (checked against the model's).
            keys: Ids named in errors and results (default ``utt0``, ``utt1``...).
            recordings: Recording ids of the returned turns (default: the keys).
            offsets: Start of each waveform in its recording, in seconds.

        Raises:
            DataFormatError: bad audio (rate, channels, empty, NaN), naming the key.
        """
        from espnet_tagspeech.serialization import parse

        n = len(speeches)
        keys = list(keys) if keys is not None else [f"utt{i}" for i in range(n)]
        recordings = list(recordings) if recordings is not None else list(keys)
        offsets = list(offsets) if offsets is not None else [0.0] * n
        wavs = [check_waveform(w, k, sample_rate=fs, expected_rate=self.sample_rate)
                for w, k in zip(speeches, keys)]
        results = []
        for k, rec, off, text in zip(keys, recordings, offsets, self._decode(wavs)):
            parsed = parse(text, recording=rec, offset=off)
            results.append(TagResult(key=k, text=text, turns=parsed.turns,
                                     speaker_turns=parsed.speaker_turns, warnings=parsed.warnings))
        return results

    def _decode(self, wavs: List[np.ndarray]) -> List[str]:
        import torch

        lengths = torch.tensor([len(w) for w in wavs], dtype=torch.long)
        speech = torch.zeros(len(wavs), int(lengths.max()))
        for i, w in enumerate(wavs):
            speech[i, : len(w)] = torch.from_numpy(w)
        speech, lengths = speech.to(self.device), lengths.to(self.device)
        tok = self.model.llm.tokenizer
        log_posteriors = None
        if self.text_from == "ctc" or self.ctc_word_bias:
            log_posteriors = ctc_log_posteriors(self.model, speech, lengths)
        if self.text_from == "ctc":
            return self._decode_after_ctc(speech, lengths, log_posteriors)
        processors = []
        if self.ctc_word_bias:
            from espnet_tagspeech.decode.answer_search import CtcWordBias, ctc_emissions

            shift = self.model.semantic_encoder.frame_shift
            skip = [i for s in ("\n", "<cc>") for i in tok.encode(s)]
            emitted = [ctc_emissions(lp, shift, lp.shape[-1] - 1, skip) for lp in log_posteriors]
            processors.append(CtcWordBias(emitted, tok, self.ctc_word_bias, self.ctc_bias_margin, self.beam_size))
        if self.speaker_constraint:
            from espnet_tagspeech.decode.answer_search import SpeakerBlockConstraint

            processors.append(SpeakerBlockConstraint(tok, self.beam_size))
        with torch.no_grad():
            embeds, mask = self.model.generation_inputs(speech, lengths)
            ids = self.model.llm.generate(
                embeds,
                mask,
                max_new_tokens=self.max_new_tokens,
                num_beams=self.beam_size,
                logits_processor=processors,
            )
        texts = [tok.decode(x) for x in ids]
        for x, t in zip(ids, texts):
            if len(x) >= self.max_new_tokens:
                logging.warning("output hit max_new_tokens=%d: %r...", self.max_new_tokens, t[:60])
        return texts

    def _search(self, log_probs: np.ndarray, channels: int) -> Optional[List[int]]:
        """The CTC labels of the beam search (``None``: greedy)."""
        lm = self.ngram if self.lm_weight != 0 else None
        if self.ctc_beam_size == 1 and lm is None:
            return None
        from espnet_tagspeech.decode.ctc.search import ctc_prefix_beam_search
        from espnet_tagspeech.tsot import CHANNEL_CHANGE

        def single(text: str) -> Optional[int]:
            ids = self.model.llm.tokenizer.encode(text)
            return ids[0] if len(ids) == 1 else None

        return ctc_prefix_beam_search(
            log_probs, self.ctc_beam_size, lm, self.lm_weight, self.token_bonus,
            end_token=single("\n"), channel_token=single(CHANNEL_CHANGE), num_channels=channels,
        )

    def _decode_after_ctc(self, speech, lengths, log_posteriors) -> List[str]:
        """The CTC head's text block, then the LLM's answer after it (the speaker block)."""
        import torch

        from espnet_tagspeech.decode.ctc.alignment import ctc_line_words
        from espnet_tagspeech.decode.voices import split_lines_by_voice
        from espnet_tagspeech.serialization import text_block
        from espnet_tagspeech.tsot import lines_to_turns

        tok = self.model.llm.tokenizer
        channels = self.model.ctc_channels if self.model.ctc_order == "time" else 1
        frame_shift = self.model.semantic_encoder.frame_shift
        voices = [None] * len(log_posteriors)
        if self.voice_split is not None:
            with torch.no_grad():
                feats, feat_len = self.model.speaker_encoder(speech, lengths)
            voices = [feats[i, : int(feat_len[i])].float().cpu().numpy() for i in range(len(voices))]
        blocks = []
        for lp, voice in zip(log_posteriors, voices):
            lines = ctc_line_words(lp, tok, frame_shift, channels, self._search(lp, channels),
                                   self.max_word_gap)
            if voice is not None:
                lines = split_lines_by_voice(lines, voice, self.model.speaker_encoder.frame_shift,
                                             self.voice_split)
            turns = lines_to_turns(lines, "cut", *self.ctc_time_pads, len(lp) * frame_shift)
            blocks.append(text_block(turns) + "\n")
        prefixes = [tok.encode(b) for b in blocks]
        with torch.no_grad():
            embeds, mask = self.model.generation_inputs(speech, lengths, prefixes)
            ids = self.model.llm.generate(
                embeds, mask, max_new_tokens=self.max_new_tokens, num_beams=self.beam_size
            )
        for x in ids:
            if len(x) >= self.max_new_tokens:
                logging.warning("speaker block hit max_new_tokens=%d", self.max_new_tokens)
        return [tok.decode(p + x) for p, x in zip(prefixes, ids)]


_DECODE_KEYS = ("max_new_tokens", "beam_size", "text_from",
                "ctc_beam_size", "ngram_file", "lm_weight", "token_bonus", "max_word_gap", "voice_split",
                "speaker_constraint", "ctc_word_bias", "ctc_bias_margin")


def ctc_log_posteriors(model, speech, lengths) -> List[np.ndarray]:
    """Per input ``(T_i, V + 1)`` log posteriors of the semantic stream's CTC head (blank last).

    Raises:
        ValueError: a model without a CTC head.
    """
    import torch

    if model.ctc_head is None:
        raise ValueError("the model has no CTC head")
    with torch.no_grad():
        enc, enc_len = model.semantic_encoder(speech, lengths)
        logp = torch.log_softmax(model.ctc_head(enc).float(), dim=-1)
    return [logp[i, : int(enc_len[i])].cpu().numpy() for i in range(logp.shape[0])]


def load_speech2tags(model_tag: Optional[str] = None, train_config: Optional[str] = None,
                     model_file: Optional[str] = None, **kwargs) -> "Speech2Tags":
    """A :class:`Speech2Tags` from a packed model, or from a training config and its weights.

    Raises:
        ValueError: neither ``model_tag`` nor ``train_config`` given.
    """
    if model_tag:
        return Speech2Tags.from_pretrained(model_tag, **kwargs)
    if train_config:
        return Speech2Tags(train_config, model_file, **kwargs)
    raise ValueError("give --model_tag, or --train_config and --model_file")


def decode_kwargs(conf: dict) -> dict:
    """Constructor arguments of :class:`Speech2Tags` from a decoding yaml.

    Keys of the command-line tool that are not the model's (``batch_size``,
    ``num_threads``...) are left out; ``ctc_start_pad`` / ``ctc_end_pad``
    become ``ctc_time_pads``.
    """
    out = {k: conf[k] for k in _DECODE_KEYS if k in conf}
    if "ctc_start_pad" in conf or "ctc_end_pad" in conf:
        out["ctc_time_pads"] = (float(conf.get("ctc_start_pad", 0.0)), float(conf.get("ctc_end_pad", 0.0)))
    return out


def resolve_packed(
    path: Union[str, Path], cache_dir: Optional[Union[str, Path]] = None
) -> dict:
    """Files of a packed model: ``{"train_config": ..., "model_file": ...}``.

    Archives (zip, tar.gz) are unpacked with ESPnet's ``unpack`` (which rewrites
    paths of packed files inside the yaml files); a directory must hold
    ``meta.yaml`` with paths relative to it.

    Raises:
        FileNotFoundError: no such path, or no ``meta.yaml`` / listed file.
    """
    import yaml

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"packed model not found: {path}")
    if path.is_dir():
        meta = path / "meta.yaml"
        if not meta.is_file():
            raise FileNotFoundError(f"{path}: no meta.yaml (not a packed model directory)")
        with meta.open(encoding="utf-8") as f:
            d = yaml.safe_load(f) or {}
        files = {k: str(path / v) for k, v in {**d.get("files", {}), **d.get("yaml_files", {})}.items()}
    else:
        from espnet2.main_funcs.pack_funcs import unpack

        out = Path(cache_dir) if cache_dir else path.parent / (path.name.split(".")[0] + "_unpacked")
        files = unpack(path, out)
    if "train_config" not in files:
        raise FileNotFoundError(f"{path}: meta.yaml lists no train_config")
    for k, v in files.items():
        if not Path(v).exists():
            raise FileNotFoundError(f"{path}: packed file {k} = {v} is missing")
    return files


def _arcname(path: Union[str, Path]) -> str:
    """The name a file is packed under: its path relative to the working directory as
    given (a symlinked config keeps its recipe-relative name, never its target's path).

    Raises:
        ValueError: a path outside the working directory.
    """
    import os

    p = Path(path)
    if not p.is_absolute():
        norm = os.path.normpath(p)
        if norm != ".." and not norm.startswith(".." + os.sep):
            return Path(norm).as_posix()
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        raise ValueError(f"{path}: outside the working directory; pack from the recipe "
                         "directory so that the zip holds only relative paths") from None


def write_packed(
    out_path: Union[str, Path],
    files: Dict[str, Union[str, Path]],
    yaml_files: Dict[str, Union[str, Path]],
    option: Sequence[Union[str, Path]] = (),
) -> None:
    """Write an ESPnet-style packed model (``meta.yaml`` + files, read by ESPnet's
    ``unpack``) whose entries are named by their working-directory-relative paths.

    The zip appears whole or not at all (temporary file, then rename).

    Raises:
        FileNotFoundError: a missing input file.
        ValueError: an input outside the working directory.
    """
    import os
    import sys
    import tempfile
    import time
    import zipfile

    import yaml

    for v in [*files.values(), *yaml_files.values(), *option]:
        if not Path(v).is_file():
            raise FileNotFoundError(f"no such file to pack: {v}")
    files = {k: _arcname(v) for k, v in files.items()}
    yaml_files = {k: _arcname(v) for k, v in yaml_files.items()}
    meta = {"files": files, "yaml_files": yaml_files, "timestamp": time.time(), "python": sys.version}
    try:
        import torch

        meta["torch"] = str(torch.__version__)
    except ImportError:
        pass
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".zip", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("meta.yaml", yaml.safe_dump(meta))
            names = list(dict.fromkeys([*yaml_files.values(), *files.values(), *map(_arcname, option)]))
            for name in names:
                z.write(name if Path(name).exists() else Path.cwd() / name, arcname=name)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def pack_model(
    out_path: Union[str, Path],
    train_config: Union[str, Path],
    model_file: Union[str, Path],
    extra_files: Sequence[Union[str, Path]] = (),
) -> None:
    """Pack config, model and extra files (tokenizer) as an ESPnet-style zip.

    Paths are stored relative to the working directory, so run it from the
    recipe directory whose relative paths the config uses.
    """
    write_packed(out_path, {"model_file": model_file}, {"train_config": train_config}, list(extra_files))
