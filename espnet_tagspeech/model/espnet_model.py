"""ESPnetTagSpeechModel: streams -> projectors -> time anchors -> prompt -> frozen LLM.

Training input per item: ``prefix [anchored semantic] middle [anchored speaker]
suffix answer EOS``, right-padded across the batch with an attention mask and
positions counted from 0; the loss is cross-entropy on the answer (and EOS)
tokens only.  Generation uses the same prompt, left-padded.
"""

import logging
from typing import Dict, List, Optional, Tuple, Union

import torch
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel

from espnet_tagspeech.model.abs_stream import AbsStream
from espnet_tagspeech.model.anchors import AnchorInserter, FrameClock, check_anchor_spacing
from espnet_tagspeech.model.ctc_compress import corrupt_ctc_posteriors
from espnet_tagspeech.model.ctc_features import build_ctc_features
from espnet_tagspeech.model.llm import HFCausalLM, log_parameters
from espnet_tagspeech.model.projector import AbsProjector
from espnet_tagspeech.model.stream_cache import StreamFeatures

IGNORE = -100


class ESPnetTagSpeechModel(AbsESPnetModel):
    """The TagSpeech model as an ESPnet model.

    Args:
        semantic_encoder: The semantic (ASR) stream.
        speaker_encoder: The speaker stream.
        semantic_projector: Projector of the semantic stream.
        speaker_projector: Projector of the speaker stream.
        llm: The decoder-only LLM with tokenizer and prompt.
        semantic_anchor_interval: Projected semantic frames between anchors.
        speaker_anchor_interval: Projected speaker frames between anchors.
        ctc_weight: Weight of an auxiliary SOT-CTC loss on the semantic
            encoder frames (0 = off).  Its targets (``ctc_text``: the text
            lines' words in time order, lines joined by newlines as the
            speaker-change symbol) come from the preprocessor.  It helps small
            random-init semantic encoders align quickly (mini recipe).
        ctc_embed: Add to each projected semantic frame the LLM input
            embedding expected under the CTC head's posteriors (blank = zero
            vector), averaged over the frames the projector stacks; the
            posteriors are not back-propagated.  Words then arrive in the
            LLM's own embedding space, which a small LLM trained from scratch
            learns to copy far sooner (mini recipe).  Builds the CTC head
            even when ``ctc_weight`` is 0 (it then comes pre-trained).
        ctc_compress: Keep only the semantic frames where the CTC head's
            greedy path starts a token (plus previous-token and tenths-of-a-second
            features, see :mod:`~espnet_tagspeech.model.ctc_compress`): about one
            frame per word, in spoken order, anchors unchanged in time (mini
            recipe).  Builds the CTC head like ``ctc_embed``.
        ctc_order: Label order of the CTC head: ``"sot"`` (the text lines'
            words line after line, as the answer's ``<text>`` block: joint
            CTC/LLM decoding can score it) or ``"time"`` (t-SOT, see
            :mod:`espnet_tagspeech.tsot`: every word in the order it starts,
            overlapping turns on ``ctc_channels`` virtual channels; its
            alignment gives each word's time, overlaps included).  ``"time"``
            targets need word times, so such a head is pre-trained (stage 5)
            and ``ctc_weight`` must stay 0.
        ctc_channels: Virtual channels of a ``"time"`` CTC head.
        ctc_line_embed: With ``ctc_compress`` and a ``"time"`` head: size of a
            learned embedding of the t-SOT line each kept token belongs to, and
            the previous-token feature follows the token's virtual channel
            (see :mod:`~espnet_tagspeech.model.ctc_compress`; 0 = off).
        speaker_on_words: Also add to every projected semantic frame the projected
            speaker frame of the same moment through a learned linear map (started
            at zero), so that a kept word frame carries the voice that said it
            and a small LLM can compare the voices of two lines by their words
            (the speaker block stays in the prompt).
        time_anchors: Insert the digit anchors into both streams (the paper);
            ``False`` is the ablation without them.
        speaker_stream: Put the speaker stream's frames into the prompt;
            ``False`` is the ablation without it (the LLM must tell speakers
            apart from the semantic stream alone).
        frame_clock: Add a learned time-of-frame embedding (second + tenth,
            started from the LLM's digit embeddings) to the projected frames of
            both streams (:class:`~espnet_tagspeech.model.anchors.FrameClock`).
        input_token_noise: In training, the fraction of teacher-forced answer
            tokens fed to the LLM as a random token instead (the labels stay
            right).  A small LLM trained from scratch otherwise learns to
            continue its own text and ignores the audio after the first
            word; the noise makes it read the streams (mini recipe).
        ctc_noise: In training, the share of the CTC head's token runs
            substituted or deleted before the CTC features are made
            (:func:`~espnet_tagspeech.model.ctc_compress.corrupt_ctc_posteriors`):
            the encoders are nearly error-free on the voices they were trained
            on, not on new ones.
        copy_head_init: With ``ctc_compress`` and a random-init LLM: start
            one attention head of the LLM as a look-up of the compressed frame
            that follows the last token written (``1`` or ``true``; first
            layer) or the last two (``2``; first two layers, t-SOT channels,
            a line's first word follows ``>`` in the frames as in the answer)
            (:mod:`~espnet_tagspeech.model.copy_init`).
        answer_line_embed: Size of a learned embedding of the text-block line
            each answer token is written in (0: none; needs ``ctc_line_embed``,
            whose frame line indices it mirrors; greedy decoding only;
            :mod:`~espnet_tagspeech.model.answer_lines`).  With
            ``copy_head_init: 2`` the copy head also keys on it.
        ctc_line_times: Append to the semantic block the CTC head's greedy
            lines' times spelled as the answer writes them, chained for the
            two-token copy head (:mod:`~espnet_tagspeech.model.line_times`;
            needs ``copy_head_init: 2``; the frames then carry no digit
            features: ``frame_clock`` off).
        ctc_line_gap: With ``ctc_line_times``: a pause (s) of a t-SOT channel
            that ends its line in the greedy path (0: none), as the cascade
            splits its lines.
        save_frozen: Keep the weights of frozen pretrained parts in
            ``state_dict()`` (checkpoints).  ``False`` leaves them out (a 7B
            LLM would otherwise be copied into every checkpoint); they are
            rebuilt from ``model_name_or_path`` when the model is built, and
            ``load_state_dict`` accepts their absence.

    Raises:
        ValueError: projector sizes that do not match the LLM, or anchors of the
            two streams that would not mark the same real times.
    """

    def __init__(
        self,
        semantic_encoder: AbsStream,
        speaker_encoder: AbsStream,
        semantic_projector: AbsProjector,
        speaker_projector: AbsProjector,
        llm: HFCausalLM,
        semantic_anchor_interval: int = 8,
        speaker_anchor_interval: int = 8,
        ctc_weight: float = 0.0,
        ctc_embed: bool = False,
        ctc_compress: bool = False,
        ctc_order: str = "sot",
        ctc_channels: int = 2,
        input_token_noise: float = 0.0,
        ctc_noise: float = 0.0,
        copy_head_init: Union[bool, int] = False,
        ctc_line_embed: int = 0,
        answer_line_embed: int = 0,
        frame_clock: bool = False,
        ctc_line_times: bool = False,
        ctc_line_gap: float = 0.0,
        speaker_on_words: bool = False,
        time_anchors: bool = True,
        speaker_stream: bool = True,
        save_frozen: bool = True,
    ) -> None:
        super().__init__()
        d = llm.hidden_size()
        for name, proj in (("semantic", semantic_projector), ("speaker", speaker_projector)):
            if proj.output_size() != d:
                raise ValueError(
                    f"{name}_projector output_size {proj.output_size()} != LLM hidden size {d}"
                )
        self.anchor_spacing = check_anchor_spacing(
            (semantic_anchor_interval, semantic_projector.ds_rate, semantic_encoder.frame_shift),
            (speaker_anchor_interval, speaker_projector.ds_rate, speaker_encoder.frame_shift),
        )
        self.semantic_encoder = semantic_encoder
        self.speaker_encoder = speaker_encoder
        self.semantic_projector = semantic_projector
        self.speaker_projector = speaker_projector
        self.llm = llm
        # projectors with an output norm start on the scale of the LLM's own embeddings
        emb_rms = float(llm.embed_tokens.weight.detach().float().pow(2).mean().sqrt())
        semantic_projector.match_scale(emb_rms)
        speaker_projector.match_scale(emb_rms)
        self.semantic_anchors = AnchorInserter(semantic_anchor_interval, llm.digit_ids)
        self.speaker_anchors = AnchorInserter(speaker_anchor_interval, llm.digit_ids)
        if not 0.0 <= ctc_weight < 1.0:
            raise ValueError(f"model_conf ctc_weight must be in [0, 1), got {ctc_weight}")
        self.ctc_weight = ctc_weight
        if ctc_order not in ("sot", "time"):
            raise ValueError(f"model_conf ctc_order must be 'sot' or 'time', got {ctc_order!r}")
        if ctc_order == "time" and ctc_weight > 0:
            raise ValueError(
                "model_conf ctc_order 'time' needs word times for its targets, which the "
                "training batches lack: pre-train the CTC head (stage 5) and keep ctc_weight 0"
            )
        if ctc_channels < 1:
            raise ValueError(f"model_conf ctc_channels must be >= 1, got {ctc_channels}")
        self.ctc_order = ctc_order
        self.ctc_channels = int(ctc_channels)
        if not 0.0 <= input_token_noise < 1.0:
            raise ValueError(f"model_conf input_token_noise must be in [0, 1), got {input_token_noise}")
        self.input_token_noise = input_token_noise
        if not 0.0 <= ctc_noise < 1.0:
            raise ValueError(f"model_conf ctc_noise must be in [0, 1), got {ctc_noise}")
        if ctc_noise and not (ctc_embed or ctc_compress):
            raise ValueError("model_conf ctc_noise corrupts the CTC features: set ctc_embed or ctc_compress")
        self.ctc_noise = float(ctc_noise)
        self.save_frozen = save_frozen
        self.ctc_head = None
        self.ctc_embed = bool(ctc_embed)
        if ctc_weight > 0 or self.ctc_embed or ctc_compress:
            # one output per token id plus the blank (the last index)
            self.ctc_head = torch.nn.Linear(
                semantic_encoder.output_size(), llm.tokenizer.vocab_size + 1
            )
        parts = build_ctc_features(
            llm, semantic_encoder, semantic_projector, self.anchor_spacing, ctc_compress, ctc_order,
            ctc_channels, copy_head_init, ctc_line_embed, answer_line_embed, ctc_line_times, frame_clock,
            ctc_line_gap,
        )
        self.ctc_compressor = parts.compressor
        self.answer_lines = parts.answer_lines
        self.line_speller = parts.line_speller
        digits = llm.embed_tokens.weight.detach()[torch.tensor(llm.digit_ids)]
        self.frame_clock = FrameClock(digits) if frame_clock else None
        if not speaker_stream and speaker_on_words:
            raise ValueError("model_conf speaker_on_words needs speaker_stream: true")
        self.time_anchors = bool(time_anchors)
        self.speaker_stream = bool(speaker_stream)
        self.speaker_to_words = None
        if speaker_on_words:
            self.speaker_to_words = torch.nn.Linear(d, d, bias=False)
            torch.nn.init.zeros_(self.speaker_to_words.weight)
        logging.info("time anchors every %.3f s", self.anchor_spacing)
        log_parameters(
            {
                "semantic_encoder": semantic_encoder,
                "speaker_encoder": speaker_encoder,
                "semantic_projector": semantic_projector,
                "speaker_projector": speaker_projector,
                "llm": llm,
                "model": self,
            }
        )

    def _frozen_prefixes(self) -> List[str]:
        out = []
        if self.semantic_encoder.frozen:
            out.append("semantic_encoder.wavlm.")
        if self.speaker_encoder.frozen:
            out.append("speaker_encoder.")
        if self.llm.freeze:
            out.append("llm.")
        return out

    def _is_frozen_key(self, key: str) -> bool:
        if "lora_" in key:
            return False
        return any(key.startswith(p) for p in self._frozen_prefixes())

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """The state dict, without frozen pretrained weights if ``save_frozen`` is off."""
        sd = super().state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)
        if not self.save_frozen:
            for key in [k for k in sd if self._is_frozen_key(k[len(prefix):])]:
                del sd[key]
        return sd

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load weights; frozen pretrained weights may be absent when ``save_frozen`` is off."""
        if self.save_frozen:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if not self._is_frozen_key(k)]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(
                f"state dict mismatch: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
            )
        return result

    @property
    def sample_rate(self) -> int:
        """Sample rate the streams expect."""
        return int(getattr(self.semantic_encoder, "sample_rate", 16000))

    def encode_streams(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> StreamFeatures:
        """Run both encoders (and the CTC head's softmax, without gradient) on waveforms."""
        enc, enc_len = self.semantic_encoder(speech, speech_lengths)
        post = None
        if self.ctc_head is not None and (self.ctc_embed or self.ctc_compressor is not None):
            with torch.no_grad():
                post = torch.softmax(self.ctc_head(enc).float(), dim=-1)
        spk, spk_len = self.speaker_encoder(speech, speech_lengths)
        return StreamFeatures(enc, enc_len, spk, spk_len, post)

    @property
    def ctc_labels(self) -> Optional[int]:
        """Labels of the CTC posteriors the prompts read (incl. blank), or ``None``."""
        if self.ctc_head is None or not (self.ctc_embed or self.ctc_compressor is not None):
            return None
        return int(self.ctc_head.out_features)

    def stream_prompts(self, feats: StreamFeatures) -> List[torch.Tensor]:
        """Prompt embeddings of each item from the encoders' outputs, ``(P_i, D)``.

        The trainable half of the model: projectors, CTC features, anchors, prompt.
        """
        sem, sem_len = self.semantic_projector(feats.semantic, feats.semantic_lengths)
        keep, block = None, None
        if feats.ctc_post is not None and self.ctc_labels is not None:
            sem, keep, block = self.add_ctc_features(sem, feats.ctc_post, feats.semantic_lengths)
        spk, spk_len = self.speaker_projector(feats.speaker, feats.speaker_lengths)
        if self.speaker_to_words is not None:
            sem = sem + self._speaker_at(spk, spk_len, sem.shape[1]).to(sem.dtype)
        if self.frame_clock is not None:
            sem = sem + self.frame_clock(
                sem.shape[1], self.semantic_projector.ds_rate * self.semantic_encoder.frame_shift, sem.device
            ).to(sem.dtype)
            spk = spk + self.frame_clock(
                spk.shape[1], self.speaker_projector.ds_rate * self.speaker_encoder.frame_shift, spk.device
            ).to(spk.dtype)
        return self.assemble_prompts(sem, sem_len, spk, spk_len, keep, block)

    def _speaker_at(self, spk: torch.Tensor, spk_len: torch.Tensor, num_sem: int) -> torch.Tensor:
        """``(B, num_sem, D)``: the projected speaker frame of each semantic frame's start
        (the last valid one past an item's end), through :attr:`speaker_to_words`."""
        sem_sec = self.semantic_projector.ds_rate * self.semantic_encoder.frame_shift
        spk_sec = self.speaker_projector.ds_rate * self.speaker_encoder.frame_shift
        idx = (torch.arange(num_sem, device=spk.device, dtype=torch.float64) * sem_sec / spk_sec + 1e-6).floor().long()
        idx = torch.minimum(idx[None], (spk_len - 1).clamp(min=0)[:, None])
        picked = torch.gather(spk, 1, idx[..., None].expand(-1, -1, spk.shape[-1]))
        return self.speaker_to_words(picked)

    def encode_prompts(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> List[torch.Tensor]:
        """Prompt embeddings of each item, ``(P_i, D)`` without padding."""
        return self.stream_prompts(self.encode_streams(speech, speech_lengths))

    def add_ctc_features(
        self, sem: torch.Tensor, post: torch.Tensor, enc_len: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[List[torch.Tensor]]]:
        """Add the CTC-derived features to projected semantic frames.

        Args:
            sem: ``(B, T', D)`` projected semantic frames.
            post: ``(B, T, V + 1)`` CTC posteriors of the encoder frames (blank last).
            enc_len: ``(B,)`` valid encoder frames.

        Returns:
            The frames with ``ctc_embed`` / ``ctc_compress`` features added, the
            keep mask ``(B, T')`` of ``ctc_compress`` and the line-time block of
            each item (``ctc_line_times``) (``None`` without them).
        """
        keep, block = None, None
        if self.training and self.ctc_noise > 0:
            keep_ids = self.ctc_compressor.symbol_ids or () if self.ctc_compressor is not None else ()
            post = corrupt_ctc_posteriors(post, enc_len, self.ctc_noise, tuple(keep_ids))
        speller = self.line_speller
        if speller is not None and speller.gap_frames:
            from espnet_tagspeech.model.line_times import end_lines_at_pauses

            comp = self.ctc_compressor
            post = end_lines_at_pauses(post, enc_len, comp.symbol_ids, comp.channels, speller.gap_frames)
        if self.ctc_embed:
            sem = sem + self._posterior_embeddings(post, enc_len, sem.shape[1]).to(sem.dtype)
        if self.ctc_compressor is not None:
            blank = post.shape[-1] - 1
            comp = self.ctc_compressor
            greedy = post.argmax(-1)
            spelled, ends = None, None
            if self.line_speller is not None:
                spelled = self.line_speller.spell_batch(
                    greedy, enc_len, blank, comp.symbol_ids, comp.channels, comp.line_first_ids
                )
                ends = [self.line_speller.line_ends(x) for x in spelled]
            keep, extra = comp(greedy, enc_len, sem.shape[1], blank, self.llm.embed_tokens.weight, ends)
            sem = sem + extra.to(sem.dtype)
            if spelled is not None:
                from espnet_tagspeech.model.line_times import line_time_block

                block = line_time_block(
                    spelled, self.llm.embed_tokens.weight, comp.prev_proj, comp.prev2_proj, comp.line_embed
                )
        return sem, keep, block

    def assemble_prompts(
        self,
        sem: torch.Tensor,
        sem_len: torch.Tensor,
        spk: torch.Tensor,
        spk_len: torch.Tensor,
        keep: Optional[torch.Tensor] = None,
        block: Optional[List[torch.Tensor]] = None,
    ) -> List[torch.Tensor]:
        """Anchor both projected streams and wrap them in the chat prompt, per item
        (``block``: the line-time block appended to each item's semantic block)."""
        embed = self.llm.embed_tokens
        dtype = embed.weight.dtype
        dev = sem.device
        prefix = self.llm.embed_ids(self.llm.prefix_ids, dev)
        middle = self.llm.embed_ids(self.llm.middle_ids, dev)
        suffix = self.llm.embed_ids(self.llm.suffix_ids, dev)
        prompts = []
        for i in range(sem.shape[0]):
            n = int(sem_len[i])
            frames = sem[i, :n].to(dtype)
            if self.time_anchors:
                a_sem, _ = self.semantic_anchors(frames, embed, None if keep is None else keep[i, :n])
            else:  # ablation: the frames alone
                a_sem = frames if keep is None else frames[keep[i, :n]]
            if block is not None:
                a_sem = torch.cat([a_sem, block[i].to(dtype)], dim=0)
            a_spk = spk[i, : int(spk_len[i])].to(dtype)
            if not self.speaker_stream:  # ablation: no speaker frames in the prompt
                a_spk = a_spk[:0]
            elif self.time_anchors:
                a_spk, _ = self.speaker_anchors(a_spk, embed)
            first, second = (a_spk, a_sem) if self.llm.speaker_first else (a_sem, a_spk)
            prompts.append(torch.cat([prefix, first, middle, second, suffix], dim=0))
        return prompts

    def _posterior_embeddings(self, post: torch.Tensor, enc_len: torch.Tensor, num_out: int) -> torch.Tensor:
        """``(B, num_out, D)``: CTC-posterior-weighted token embeddings, pooled like the projector.

        ``post`` are the CTC posteriors ``(B, T, V + 1)`` (blank last), without gradient.
        """
        with torch.no_grad():
            valid = torch.arange(post.shape[1], device=post.device)[None] < enc_len[:, None]
            post = post[..., :-1] * valid[..., None]  # drop blank
        table = self.llm.embed_tokens.weight[: post.shape[-1]]
        emb = post.to(table.dtype) @ table  # (B, T, D); gradients reach the embedding table
        k = self.semantic_projector.ds_rate
        tail = num_out * k - emb.shape[1]
        if tail > 0:
            emb = torch.nn.functional.pad(emb, (0, 0, 0, tail))
        return emb[:, : num_out * k].reshape(emb.shape[0], num_out, k, -1).mean(2)

    def _ctc_loss(
        self, enc: torch.Tensor, enc_len: torch.Tensor, ctc_text: torch.Tensor, ctc_len: torch.Tensor
    ) -> torch.Tensor:
        logp = torch.log_softmax(self.ctc_head(enc).float(), dim=-1).transpose(0, 1)
        blank = logp.shape[-1] - 1
        targets = ctc_text.clamp(min=0)
        return torch.nn.functional.ctc_loss(
            logp, targets, enc_len, ctc_len, blank=blank, reduction="mean", zero_infinity=True
        )

    def _noisy(self, ids: List[int]) -> List[int]:
        """``ids`` with a random ``input_token_noise`` share swapped for random tokens (training)."""
        if not (self.training and self.input_token_noise > 0):
            return ids
        vocab = self.llm.tokenizer.vocab_size
        swap = torch.rand(len(ids)) < self.input_token_noise
        rand = torch.randint(0, vocab, (len(ids),))
        return [int(r) if sw else x for x, r, sw in zip(ids, rand.tolist(), swap.tolist())]

    def forward(
        self,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
        text: Optional[torch.Tensor] = None,
        text_lengths: Optional[torch.Tensor] = None,
        ctc_text: Optional[torch.Tensor] = None,
        ctc_text_lengths: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """Teacher-forced loss on the answer tokens.

        Args:
            speech: ``(B, L)`` waveforms; or ``None`` and, instead, the dumped
                encoder outputs in ``kwargs`` (``semantic_feats``,
                ``speaker_feats``, ``ctc_topk_ids``, ``ctc_topk_probs`` and
                their ``*_lengths``, see :mod:`~espnet_tagspeech.model.stream_cache`).
            speech_lengths: ``(B,)`` samples per item.
            text: ``(B, U)`` answer token ids (padding ``-1``).
            text_lengths: ``(B,)`` tokens per item.
            ctc_text: ``(B, V)`` SOT-CTC targets (used when ``ctc_weight > 0``).
            ctc_text_lengths: ``(B,)`` their lengths.

        Returns:
            ``(loss, stats, weight)``; stats hold ``loss`` and ``acc`` (answer
            token accuracy), and ``loss_llm`` / ``loss_ctc`` with CTC.

        Raises:
            ValueError: neither speech nor dumped features, or dumped features
                with ``ctc_weight > 0`` (the encoder must run for its loss).
        """
        if text is None or text_lengths is None:
            raise ValueError("the model's forward needs the answer tokens (text, text_lengths)")
        bsz = text.shape[0]
        if speech is not None:
            feats = self.encode_streams(speech, speech_lengths)
        else:
            if self.ctc_weight > 0:
                raise ValueError("ctc_weight > 0 trains the semantic encoder: train on speech, "
                                 "not on dumped stream features")
            feats = StreamFeatures.from_batch(kwargs, self.ctc_labels)
        loss, acc = self.answer_loss(self.stream_prompts(feats), text, text_lengths)
        stats = {"acc": acc.detach()}
        if self.ctc_weight > 0:
            if ctc_text is None:
                raise ValueError("ctc_weight > 0 needs ctc_text in the batch (use the preprocessor)")
            loss_ctc = self._ctc_loss(feats.semantic, feats.semantic_lengths, ctc_text, ctc_text_lengths)
            stats.update(loss_llm=loss.detach(), loss_ctc=loss_ctc.detach())
            loss = (1 - self.ctc_weight) * loss + self.ctc_weight * loss_ctc
        stats["loss"] = loss.detach()
        weight = torch.tensor(bsz, device=text.device)
        loss, stats, weight = force_gatherable((loss, stats, weight), loss.device)
        return loss, stats, weight

    def answer_loss(
        self, prompts: List[torch.Tensor], text: torch.Tensor, text_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced cross-entropy and accuracy of the answers after ``prompts``.

        Args:
            prompts: Per item ``(P_i, D)`` prompt embeddings.
            text: ``(B, U)`` answer token ids (padding ``-1``).
            text_lengths: ``(B,)`` tokens per item.
        """
        eos = self.llm.tokenizer.eos_id
        dev = text.device
        bsz = len(prompts)
        seqs, labels = [], []
        for i, prompt in enumerate(prompts):
            ans = text[i, : int(text_lengths[i])].tolist() + [eos]
            ans_emb = self.llm.embed_ids(self._noisy(ans), dev)
            if self.answer_lines is not None:  # the true lines, also where a token is noised
                ans_emb = ans_emb + self.answer_lines.embed(ans, dev).to(ans_emb.dtype)
            seqs.append(torch.cat([prompt, ans_emb], dim=0))
            labels.append([IGNORE] * prompt.shape[0] + ans)
        lens = [s.shape[0] for s in seqs]
        tmax = max(lens)
        embeds = seqs[0].new_zeros(bsz, tmax, seqs[0].shape[1])
        mask = torch.zeros(bsz, tmax, dtype=torch.long, device=dev)
        label_t = torch.full((bsz, tmax), IGNORE, dtype=torch.long, device=dev)
        for i, (s, lab) in enumerate(zip(seqs, labels)):
            embeds[i, : lens[i]] = s
            mask[i, : lens[i]] = 1
            label_t[i, : lens[i]] = torch.tensor(lab, dtype=torch.long, device=dev)
        position_ids = torch.arange(tmax, device=dev)[None].expand(bsz, -1)
        hidden = self.llm.hidden_states(embeds, mask, position_ids)
        # Position t predicts token t+1.
        target = label_t[:, 1:]
        select = target != IGNORE
        logits = self.llm.logits(hidden[:, :-1][select]).float()
        gold = target[select]
        loss = torch.nn.functional.cross_entropy(logits, gold)
        acc = (logits.argmax(-1) == gold).float().mean()
        return loss, acc

    def collect_feats(
        self,
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        **kwargs,
    ) -> Dict[str, torch.Tensor]:
        """Raw waveforms are the model's features (no normalisation stats needed)."""
        return {"feats": speech, "feats_lengths": speech_lengths}

    def generation_inputs(
        self,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
        answer_prefixes: Optional[List[List[int]]] = None,
        feats: Optional[StreamFeatures] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Left-padded prompt embeddings and attention mask for generation.

        Args:
            speech: ``(B, L)`` waveforms (or give ``feats``).
            speech_lengths: ``(B,)`` samples per item.
            answer_prefixes: Per item, answer token ids already decided (the
                generation continues after them), or ``None``.
            feats: The encoders' outputs, when already computed.
        """
        if feats is None:
            feats = self.encode_streams(speech, speech_lengths)
        prompts = self.stream_prompts(feats)
        dev = prompts[0].device
        if answer_prefixes is not None:
            prompts = [
                torch.cat([p, self.answer_embeds(list(ids), dev)], dim=0) if len(ids) else p
                for p, ids in zip(prompts, answer_prefixes)
            ]
        tmax = max(p.shape[0] for p in prompts)
        embeds = prompts[0].new_zeros(len(prompts), tmax, prompts[0].shape[1])
        mask = torch.zeros(len(prompts), tmax, dtype=torch.long, device=dev)
        for i, p in enumerate(prompts):
            embeds[i, tmax - p.shape[0] :] = p
            mask[i, tmax - p.shape[0] :] = 1
        return embeds, mask

    def answer_embeds(self, ids: List[int], device: torch.device) -> torch.Tensor:
        """Input embeddings of answer tokens fed as a prompt (with their line features)."""
        emb = self.llm.embed_ids(ids, device)
        if self.answer_lines is not None:
            emb = emb + self.answer_lines.embed(ids, device).to(emb.dtype)
        return emb

    def generating(self, answer_prefixes: Optional[List[List[int]]], batch: int):
        """Context of ``llm.generate`` after :meth:`generation_inputs`: adds the answer
        line features of the generated tokens (a no-op without ``answer_line_embed``)."""
        import contextlib

        if self.answer_lines is None:
            return contextlib.nullcontext()
        return self.answer_lines.during_generation(self.llm.embed_tokens, answer_prefixes, batch)
