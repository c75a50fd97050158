"""Speech2Tags: decode "who spoke what and when" with a trained TagSpeech model.

Build it from a training config and model file (ESPnet's
``TagSpeechTask.build_model_from_file``) or from a packed model
(:meth:`Speech2Tags.from_pretrained`: an ESPnet-style zip/tgz whose
``meta.yaml`` lists the config, the model file and extra files such as the
tokenizer, or a directory already unpacked).  How it decodes is one
:class:`~espnet_tagspeech.decode.config.DecodeConfig`.  Each waveform gives
the raw generated text, the parsed turns (recording time) and parse warnings.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.decode.config import DecodeConfig
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

    def to_dict(self) -> Dict:
        """A JSON-ready mapping that :meth:`from_dict` turns back into the same result."""
        from dataclasses import asdict

        return {"key": self.key, "text": self.text, "warnings": list(self.warnings),
                "turns": [asdict(t) for t in self.turns],
                "speaker_turns": [asdict(t) for t in self.speaker_turns]}

    @classmethod
    def from_dict(cls, d: Dict) -> "TagResult":
        """The result :meth:`to_dict` saved (``KeyError``/``TypeError``/``ValueError`` if malformed)."""
        from espnet_tagspeech.data.turn import Word

        def turn(t: Dict) -> Turn:
            return Turn(**{**t, "words": tuple(Word(**w) for w in t["words"])})

        return cls(d["key"], d["text"], [turn(t) for t in d["turns"]],
                   [turn(t) for t in d["speaker_turns"]], list(d["warnings"]))


class Speech2Tags:
    """Multi-speaker transcription with timestamps and speaker ids.

    Args:
        train_config: The ``config.yaml`` written by training.
        model_file: The trained ``.pth`` (ESPnet state dict).
        device: ``"cpu"`` or ``"cuda"``.
        decode_config: How to decode (:class:`~espnet_tagspeech.decode.config.DecodeConfig`,
            or a mapping of its settings; default: the paper's greedy decoding).
        segment_config: How a whole recording is cut into windows
            (:class:`~espnet_tagspeech.segment.config.SegmentConfig` or its dict).
        link_config: How the windows' speakers are linked into the
            recording's (:class:`~espnet_tagspeech.decode.link.LinkConfig` or its dict).

    Raises:
        ValueError: a bad decoding setting, or one the model cannot do (no CTC
            head, an n-gram LM of another vocabulary), naming the key.

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
        decode_config: Optional[Union[DecodeConfig, Mapping[str, Any]]] = None,
        segment_config=None,
        link_config=None,
    ) -> None:
        from espnet_tagspeech.decode.link import LinkConfig
        from espnet_tagspeech.segment.config import SegmentConfig
        from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

        if decode_config is None or isinstance(decode_config, Mapping):
            decode_config = DecodeConfig.from_dict(decode_config or {})
        if isinstance(segment_config, dict):
            segment_config = SegmentConfig.from_dict(segment_config)
        if isinstance(link_config, dict):
            link_config = LinkConfig.from_dict(link_config)
        self.segment_config = segment_config or SegmentConfig()
        self.link_config = link_config or LinkConfig()
        model, args = TagSpeechTask.build_model_from_file(train_config, model_file, device)
        model.eval()
        self.model = model
        self.device = device
        self.sample_rate = int(getattr(args, "sample_rate", 16000))
        self._voice_encoder = None  # speaker_voice_from's encoder, loaded on first use
        self.decode_config = decode_config

    @property
    def decode_config(self) -> DecodeConfig:
        """The decoding settings; setting them checks them against the model."""
        return self._decode_config

    @decode_config.setter
    def decode_config(self, config: DecodeConfig) -> None:
        if not isinstance(config, DecodeConfig):
            raise TypeError(f"decode_config must be a DecodeConfig, got {type(config).__name__}")
        needs_ctc = [k for k, on in (("text_from 'ctc'", config.text_from == "ctc"),
                                     ("ctc_word_bias", config.ctc_word_bias > 0),
                                     ("ctc_time_bias", config.ctc_time_bias > 0)) if on]
        if needs_ctc and self.model.ctc_head is None:
            raise ValueError(f"{needs_ctc[0]}: the model has no CTC head")
        if config.beam_size > 1 and getattr(self.model, "answer_lines", None) is not None:
            raise ValueError(f"beam_size {config.beam_size}: the model's answer_line_embed follows "
                             "one answer per cut, decode it with beam_size 1")
        ngram = None
        if config.ngram_file:
            from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM

            ngram = TokenNgramLM.load(config.ngram_file)
            vocab = self.model.llm.tokenizer.vocab_size
            if ngram.vocab_size != vocab:
                raise ValueError(f"ngram_file {config.ngram_file}: LM of {ngram.vocab_size} tokens, "
                                 f"the model's tokenizer has {vocab}")
        self._decode_config, self.ngram = config, ngram

    @classmethod
    def from_pretrained(
        cls,
        path: Union[str, Path],
        cache_dir: Optional[Union[str, Path]] = None,
        device: str = "cpu",
        decode_config: Optional[Union[DecodeConfig, Mapping[str, Any]]] = None,
        segment_config=None,
        link_config=None,
        **overrides: Any,
    ) -> "Speech2Tags":
        """Build from a packed model (zip / tgz) or an unpacked directory.

        The packed decoding config (``inference_config``), n-gram LM
        (``ngram_file``), segmentation and linking configs, when present, are
        the defaults: the zip decodes as the recipe's stage 8 did.

        Args:
            path: The archive, or a directory holding ``meta.yaml``.
            cache_dir: Where archives are unpacked (default: beside the archive).
            device: ``"cpu"`` or ``"cuda"``.
            decode_config: Decoding settings used instead of the packed ones.
            segment_config: Segmentation settings used instead of the packed ones.
            link_config: Linking settings used instead of the packed ones.
            **overrides: :class:`DecodeConfig` settings (``beam_size=4``...) that
                win over the decoding config.

        Raises:
            FileNotFoundError: a missing archive or packed file.
            ValueError: an unknown setting (the valid keys are listed) or a bad value.
        """
        from espnet_tagspeech.decode.link import LinkConfig
        from espnet_tagspeech.decode.packed import resolve_packed
        from espnet_tagspeech.segment.config import SegmentConfig

        DecodeConfig.check_keys(overrides, "from_pretrained overrides")
        files = resolve_packed(path, cache_dir)
        source = "decode_config"
        if isinstance(decode_config, DecodeConfig):
            conf = decode_config.to_dict()
        elif decode_config is not None:
            conf = dict(decode_config)
        elif "inference_config" in files:
            conf, source = DecodeConfig.read_yaml(files["inference_config"]), files["inference_config"]
        else:
            conf, source = {}, f"{path}"
        if "ngram_file" in files and not conf.get("ngram_file"):
            conf["ngram_file"] = files["ngram_file"]
        if overrides:
            source += f" with overrides {sorted(overrides)}"
        config = DecodeConfig.from_dict({**conf, **overrides}, source)
        if link_config is None and "link_config" in files:
            link_config = LinkConfig.from_yaml(files["link_config"])
        if segment_config is None and "segment_config" in files:
            segment_config = SegmentConfig.from_yaml(files["segment_config"])
        return cls(files["train_config"], files.get("model_file"), device, config, segment_config, link_config)

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
        voices: Optional[Sequence[Optional[np.ndarray]]] = None,
        keep_text: Optional[Sequence[Optional[str]]] = None,
    ) -> List[TagResult]:
        """Decode several waveforms at once (same results as one by one).

        Args:
            speeches: 1-D waveforms.
            fs: Their sample rate when known (checked against the model's).
            keys: Ids named in errors and results (default ``utt0``, ``utt1``...).
            recordings: Recording ids of the returned turns (default: the keys).
            offsets: Start of each waveform in its recording, in seconds.
            voices: Per waveform, ``None`` or the ``(K, D)`` voice prints
                (``speaker_voice_from``'s encoder) of its recording's speakers
                from an earlier decoding (``speaker_voice_passes: 2``): the
                speaker block's voice bias then reads them (:class:`SpeakerVoiceBias`).
            keep_text: Per waveform, ``None`` or an earlier decoding's answer whose
                text block is kept: the LLM continues after it and writes the
                speaker block only (the second pass of ``speaker_voice_passes: 2``,
                whose voices change the speaker block alone); an answer without a
                closed text block is decoded whole.

        Raises:
            DataFormatError: bad audio (rate, channels, empty, NaN), naming the key.
            ValueError: ``keep_text`` with ``text_from: ctc``.
        """
        from espnet_tagspeech.serialization import parse

        n = len(speeches)
        keys = list(keys) if keys is not None else [f"utt{i}" for i in range(n)]
        recordings = list(recordings) if recordings is not None else list(keys)
        offsets = list(offsets) if offsets is not None else [0.0] * n
        wavs = [check_waveform(w, k, sample_rate=fs, expected_rate=self.sample_rate)
                for w, k in zip(speeches, keys)]
        results = []
        for k, rec, off, text in zip(keys, recordings, offsets, self._decode(wavs, voices, keep_text)):
            parsed = parse(text, recording=rec, offset=off)
            results.append(TagResult(key=k, text=text, turns=parsed.turns,
                                     speaker_turns=parsed.speaker_turns, warnings=parsed.warnings))
        return results

    def _decode(self, wavs: List[np.ndarray], voices: Optional[Sequence[Optional[np.ndarray]]] = None,
                keep_text: Optional[Sequence[Optional[str]]] = None) -> List[str]:
        import torch

        from espnet_tagspeech.serialization import answer_text_block

        lengths = torch.tensor([len(w) for w in wavs], dtype=torch.long)
        speech = torch.zeros(len(wavs), int(lengths.max()))
        for i, w in enumerate(wavs):
            speech[i, : len(w)] = torch.from_numpy(w)
        speech, lengths = speech.to(self.device), lengths.to(self.device)
        tok = self.model.llm.tokenizer
        conf = self.decode_config
        prefixes = None  # per input, the answer tokens kept from an earlier pass
        if keep_text is not None:
            if conf.text_from != "llm":
                raise ValueError(f"keep_text: with text_from {conf.text_from!r} the LLM writes no text block")
            blocks = [answer_text_block(a) if a else None for a in keep_text]
            if any(blocks):
                prefixes = [tok.encode(b) if b else [] for b in blocks]
        feats = None  # both encoders run once per batch when the LLM will read them
        if conf.text_from == "llm" or conf.speaker_from == "llm":
            with torch.no_grad():
                feats = self.model.encode_streams(speech, lengths)
        writes_text = conf.text_from == "llm" and (prefixes is None or not all(prefixes))
        log_posteriors = None
        if conf.text_from == "ctc" or (writes_text and (conf.ctc_word_bias or conf.ctc_time_bias)):
            log_posteriors = ctc_log_posteriors(self.model, speech, lengths, feats)
        if conf.text_from == "ctc":
            return self._decode_after_ctc(speech, lengths, log_posteriors, feats)
        # the text block's processors are idle after </text>: not built when every text block is kept
        processors = self._text_processors(wavs, log_posteriors) if writes_text else []
        processors += self._speaker_processors(wavs, speech, lengths, feats, voices)
        if prefixes is not None and processors:
            from espnet_tagspeech.decode.answer_search import AnswerPrefix

            processors = [AnswerPrefix(processors, prefixes, conf.beam_size)]
        with torch.no_grad():
            embeds, mask = self.model.generation_inputs(answer_prefixes=prefixes, feats=feats)
            with self.model.generating(prefixes, len(wavs)):
                ids = self.model.llm.generate(
                    embeds,
                    mask,
                    max_new_tokens=conf.max_new_tokens,
                    num_beams=conf.beam_size,
                    logits_processor=processors,
                )
        texts = [tok.decode(x if prefixes is None else prefixes[i] + x) for i, x in enumerate(ids)]
        for x, t in zip(ids, texts):
            if len(x) >= conf.max_new_tokens:
                logging.warning("output hit max_new_tokens=%d: %r...", conf.max_new_tokens, t[:60])
        return texts

    def _text_processors(self, wavs: List[np.ndarray], log_posteriors: Optional[List[np.ndarray]]) -> List:
        """The logits processors of the text block (CTC word, time and order fusion,
        well-formed times, no loops), as the decoding settings ask."""
        conf = self.decode_config
        tok = self.model.llm.tokenizer
        processors = []
        if conf.ctc_word_bias:
            from espnet_tagspeech.decode.answer_search import CtcWordBias, ctc_emissions

            shift = self.model.semantic_encoder.frame_shift
            skip = [i for s in ("\n", "<cc>") for i in tok.encode(s)]
            emitted = [ctc_emissions(lp, shift, lp.shape[-1] - 1, skip) for lp in log_posteriors]
            processors.append(CtcWordBias(emitted, tok, conf.ctc_word_bias, conf.ctc_bias_margin, conf.beam_size))
        if conf.ctc_time_bias:
            from espnet_tagspeech.decode.answer_search import CtcTimeBias
            from espnet_tagspeech.decode.ctc.alignment import ctc_lines

            shift = self.model.semantic_encoder.frame_shift
            channels = self.model.ctc_channels if self.model.ctc_order == "time" else 1
            turns = [ctc_lines(lp, tok, shift, channels, conf.ctc_start_pad, conf.ctc_end_pad,
                               labels=self._search(lp, channels), max_word_gap=conf.max_word_gap)
                     for lp in log_posteriors]
            lines = [[(t.start, t.end, len(t.words)) for t in item] for item in turns]
            processors.append(CtcTimeBias(lines, tok, conf.ctc_time_bias, conf.beam_size, conf.ctc_skip_penalty))
            if conf.ctc_order_bias:
                from espnet_tagspeech.decode.answer_search import CtcWordOrderBias

                spelled = [[(t.start, tok.encode(" ".join(w.text for w in t.words))) for t in item] for item in turns]
                processors.append(CtcWordOrderBias(spelled, tok, conf.ctc_order_bias, conf.beam_size,
                                                   conf.ctc_end_bias, conf.ctc_skip_penalty))
        if conf.time_constraint:
            from espnet_tagspeech.decode.answer_search import TimeRangeConstraint

            seconds = [len(w) / self.sample_rate for w in wavs]
            processors.append(TimeRangeConstraint(seconds, tok, conf.beam_size))
        if conf.no_repeat_words:
            from espnet_tagspeech.decode.answer_search import RepeatedWordBlock

            processors.append(RepeatedWordBlock(tok, conf.no_repeat_words))
        return processors

    def _speaker_processors(self, wavs: List[np.ndarray], speech, lengths, feats, voices) -> List:
        """The logits processors of the speaker block (its ranges, the voice bias)."""
        conf = self.decode_config
        tok = self.model.llm.tokenizer
        processors = []
        if conf.speaker_constraint:
            from espnet_tagspeech.decode.speaker_block import SpeakerBlockConstraint

            processors.append(SpeakerBlockConstraint(tok, conf.beam_size, conf.speaker_every_line,
                                                     conf.speaker_merge_bias, conf.speaker_max_overlap))
        if conf.speaker_voice_bias:
            from espnet_tagspeech.decode.speaker_block import SpeakerVoiceBias

            external = conf.speaker_voice_from != "model"
            processors.append(SpeakerVoiceBias(None if external else self._speaker_frames(speech, lengths, feats),
                                               self.model.speaker_encoder.frame_shift, tok,
                                               conf.speaker_voice_bias, conf.speaker_voice_threshold,
                                               conf.beam_size, conf.speaker_max_overlap,
                                               embed=self._span_embedder(wavs) if external else None,
                                               voices=voices))
        return processors

    def voice_embedder(self):
        """The ``speaker_voice_from`` voice-print function ``embed(audio, rate)``, built on
        first use and then shared (the speaker-block fusion, decode_meeting's pass voices)."""
        if self._voice_encoder is None:
            from espnet_tagspeech.decode.voices import make_embedder

            self._voice_encoder = make_embedder(self.decode_config.speaker_voice_from, model=self.model,
                                                device=str(self.device))
        return self._voice_encoder

    def _span_embedder(self, wavs: List[np.ndarray]):
        """``embed(item, spans)``: the ``speaker_voice_from`` encoder's print of ``wavs[item]``
        over ``spans`` (seconds; the pieces joined)."""
        encoder, rate = self.voice_embedder(), self.sample_rate

        def embed(item: int, spans: List[Tuple[float, float]]) -> np.ndarray:
            wav = wavs[item]
            pieces = [wav[max(0, int(s * rate)): int(e * rate)] for s, e in spans]
            audio = np.concatenate([p for p in pieces if len(p)] or [wav[:0]])
            return encoder(audio, rate)

        return embed

    def _speaker_frames(self, speech, lengths, feats=None) -> List[np.ndarray]:
        """Each input's ``(T_i, C)`` speaker-stream frames (padding cut off; from ``feats``,
        the encoders' outputs, when already computed)."""
        import torch

        if feats is not None:
            frames, frame_len = feats.speaker, feats.speaker_lengths
        else:
            with torch.no_grad():
                frames, frame_len = self.model.speaker_encoder(speech, lengths)
        return [frames[i, : int(frame_len[i])].float().cpu().numpy() for i in range(frames.shape[0])]

    def _search(self, log_probs: np.ndarray, channels: int) -> Optional[List[int]]:
        """The CTC labels of the beam search (``None``: greedy)."""
        conf = self.decode_config
        lm = self.ngram if conf.lm_weight != 0 else None
        if conf.ctc_beam_size == 1 and lm is None:
            return None
        from espnet_tagspeech.decode.ctc.search import ctc_prefix_beam_search
        from espnet_tagspeech.tsot import CHANNEL_CHANGE

        def single(text: str) -> Optional[int]:
            ids = self.model.llm.tokenizer.encode(text)
            return ids[0] if len(ids) == 1 else None

        return ctc_prefix_beam_search(
            log_probs, conf.ctc_beam_size, lm, conf.lm_weight, conf.token_bonus,
            end_token=single("\n"), channel_token=single(CHANNEL_CHANGE), num_channels=channels,
        )

    def _decode_after_ctc(self, speech, lengths, log_posteriors, feats=None) -> List[str]:
        """The CTC head's text block, then the LLM's answer after it (the speaker block).

        With ``speaker_from: lines`` the LLM is not run: every line is its own
        speaker in the answer (linking by line clustering decides who is who).
        """
        from dataclasses import replace

        import torch

        from espnet_tagspeech.decode.ctc.alignment import ctc_line_words
        from espnet_tagspeech.decode.voices import split_lines_by_voice
        from espnet_tagspeech.serialization import serialize, text_block
        from espnet_tagspeech.tsot import lines_to_turns

        tok = self.model.llm.tokenizer
        channels = self.model.ctc_channels if self.model.ctc_order == "time" else 1
        frame_shift = self.model.semantic_encoder.frame_shift
        conf = self.decode_config
        voices = [None] * len(log_posteriors)
        if conf.voice_split is not None:
            voices = self._speaker_frames(speech, lengths, feats)
        blocks = []
        for lp, voice in zip(log_posteriors, voices):
            lines = ctc_line_words(lp, tok, frame_shift, channels, self._search(lp, channels),
                                   conf.max_word_gap)
            if voice is not None:
                lines = split_lines_by_voice(lines, voice, self.model.speaker_encoder.frame_shift,
                                             conf.voice_split)
            turns = lines_to_turns(lines, "cut", conf.ctc_start_pad, conf.ctc_end_pad, len(lp) * frame_shift)
            if conf.speaker_from == "lines":
                blocks.append(serialize([replace(t, speaker=f"line{i}") for i, t in enumerate(turns)]))
            else:
                blocks.append(text_block(turns) + "\n")
        if conf.speaker_from == "lines":
            return blocks
        prefixes = [tok.encode(b) for b in blocks]
        with torch.no_grad():
            embeds, mask = self.model.generation_inputs(speech, lengths, prefixes, feats)
            with self.model.generating(prefixes, len(prefixes)):
                ids = self.model.llm.generate(
                    embeds, mask, max_new_tokens=conf.max_new_tokens, num_beams=conf.beam_size
                )
        for x in ids:
            if len(x) >= conf.max_new_tokens:
                logging.warning("speaker block hit max_new_tokens=%d", conf.max_new_tokens)
        return [tok.decode(p + x) for p, x in zip(prefixes, ids)]


def ctc_log_posteriors(model, speech, lengths, feats=None) -> List[np.ndarray]:
    """Per input ``(T_i, V + 1)`` log posteriors of the semantic stream's CTC head (blank last).

    Args:
        model: The TagSpeech model.
        speech: ``(B, L)`` waveforms.
        lengths: ``(B,)`` samples per item.
        feats: The encoders' outputs (``model.encode_streams``), when already computed.

    Raises:
        ValueError: a model without a CTC head.
    """
    import torch

    if model.ctc_head is None:
        raise ValueError("the model has no CTC head")
    with torch.no_grad():
        if feats is not None:
            enc, enc_len = feats.semantic, feats.semantic_lengths
        else:
            enc, enc_len = model.semantic_encoder(speech, lengths)
        logp = torch.log_softmax(model.ctc_head(enc).float(), dim=-1)
    return [logp[i, : int(enc_len[i])].cpu().numpy() for i in range(logp.shape[0])]


def load_speech2tags(
    model_tag: Optional[Union[str, Path]] = None,
    train_config: Optional[Union[str, Path]] = None,
    model_file: Optional[Union[str, Path]] = None,
    device: str = "cpu",
    decode_config: Optional[Union[DecodeConfig, Mapping[str, Any]]] = None,
    segment_config=None,
    link_config=None,
    **overrides: Any,
) -> Speech2Tags:
    """A :class:`Speech2Tags` from a packed model, or from a training config and its weights.

    Args:
        model_tag: A packed model (see :meth:`Speech2Tags.from_pretrained`) ...
        train_config: ... or a training config ...
        model_file: ... and its weights.
        device: ``"cpu"`` or ``"cuda"``.
        decode_config: Decoding settings (a packed model's own by default).
        segment_config: See :class:`Speech2Tags`.
        link_config: See :class:`Speech2Tags` (a packed model's own by default).
        **overrides: :class:`DecodeConfig` settings that win over ``decode_config``.

    Raises:
        ValueError: neither ``model_tag`` nor ``train_config`` given, or a bad setting.
    """
    DecodeConfig.check_keys(overrides, "overrides")
    if model_tag:
        return Speech2Tags.from_pretrained(model_tag, device=device, decode_config=decode_config,
                                           segment_config=segment_config, link_config=link_config, **overrides)
    if not train_config:
        raise ValueError("give --model_tag, or --train_config and --model_file")
    if isinstance(decode_config, DecodeConfig):
        decode_config = decode_config.to_dict()
    source = "decode config" + (f" with overrides {sorted(overrides)}" if overrides else "")
    config = DecodeConfig.from_dict({**(decode_config or {}), **overrides}, source)
    return Speech2Tags(train_config, model_file, device, config, segment_config, link_config)
