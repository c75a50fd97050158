"""How much does a trained TagSpeech model read its audio? Teacher-forced accuracy by token kind.

Prints (never asserts), for the cuts of a data dir, the teacher-forced answer
accuracy per token kind (text-line words, text-line time digits, markup, and the
same in the speaker block), twice: with each cut's own audio, and with the audio
of the next cut in the batch (targets unchanged).  A model that reads its streams
loses most of its word and digit accuracy on swapped audio; a model that only
continues its own text loses little.

Run from a recipe dir, e.g. ``egs2/mini_meeting/tagspeech1``::

    python ../../../bench/bench_audio_reliance.py --exp exp/tagspeech_mini \\
        --data dump/mini/raw/dev_cuts
"""

import argparse
import collections
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch


def token_kind(piece: str, section: str) -> str:
    """``<section>_word``, ``<section>_digit`` or ``<section>_markup`` of one decoded piece."""
    s = piece.strip()
    if s.isdigit():
        return f"{section}_digit"
    if s.replace("'", "").isalpha():
        return f"{section}_word"
    return f"{section}_markup"


def accuracy_by_kind(model, wavs: List[np.ndarray], targets: List[str], swap: bool, batch: int) -> Dict[str, Tuple[int, int]]:
    """``{kind: (correct, total)}`` of teacher-forced greedy predictions."""
    tok = model.llm.tokenizer
    stats: Dict[str, List[int]] = collections.defaultdict(lambda: [0, 0])
    for i in range(0, len(wavs), batch):
        w, t = wavs[i : i + batch], targets[i : i + batch]
        if swap and len(w) > 1:
            w = w[1:] + w[:1]
        lens = torch.tensor([len(x) for x in w])
        speech = torch.zeros(len(w), int(lens.max()))
        for j, x in enumerate(w):
            speech[j, : len(x)] = torch.from_numpy(x)
        with torch.no_grad():
            prompts = model.encode_prompts(speech, lens)
            for prompt, target in zip(prompts, t):
                ids = tok.encode(target) + [tok.eos_id]
                emb = torch.cat([prompt, model.answer_embeds(ids, prompt.device)])
                n = emb.shape[0]
                hidden = model.llm.hidden_states(
                    emb[None], torch.ones(1, n, dtype=torch.long), torch.arange(n)[None]
                )
                pred = model.llm.logits(hidden[0, prompt.shape[0] - 1 : -1]).argmax(-1).tolist()
                section = "text"
                for x, y in zip(ids, pred):
                    piece = tok.decode([x])
                    if "<speaker>" in piece:
                        section = "spk"
                    kind = token_kind(piece, section)
                    stats[kind][0] += int(x == y)
                    stats[kind][1] += 1
    return {k: (v[0], v[1]) for k, v in stats.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--exp", required=True, help="experiment dir (config.yaml and the model file)")
    p.add_argument("--model_file", default="valid.acc.ave.pth")
    p.add_argument("--data", required=True, help="cuts data dir (wav.scp, text)")
    p.add_argument("--max_cuts", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args()

    from espnet_tagspeech.data.kaldi import load_audio, read_text, read_wav_scp
    from espnet_tagspeech.serialization import line_to_target
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    torch.set_num_threads(2)
    exp = Path(args.exp)
    model, _ = TagSpeechTask.build_model_from_file(exp / "config.yaml", exp / args.model_file, "cpu")
    model.eval()
    wav_scp, texts = read_wav_scp(Path(args.data) / "wav.scp"), read_text(Path(args.data) / "text")
    keys = [k for k in wav_scp if k in texts][: args.max_cuts]
    wavs = [load_audio(wav_scp[k], key=k)[0].astype(np.float32) for k in keys]
    targets = [line_to_target(texts[k]) for k in keys]
    own = accuracy_by_kind(model, wavs, targets, swap=False, batch=args.batch)
    other = accuracy_by_kind(model, wavs, targets, swap=True, batch=args.batch)
    print(f"{len(keys)} cuts of {args.data}; teacher-forced accuracy by token kind")
    print(f"{'kind':14s} {'tokens':>7s} {'own audio':>10s} {'swapped':>8s}")
    for kind in sorted(own):
        c, n = own[kind]
        c2, n2 = other.get(kind, (0, 0))
        print(f"{kind:14s} {n:7d} {c / n:10.3f} {c2 / max(n2, 1):8.3f}")


if __name__ == "__main__":
    main()
