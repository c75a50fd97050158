"""Tiny random-init TagSpeech setups: synthetic cuts, tokenizer, config.

Used by the tests, CI, the benchmark and ``bin/build_tiny_model.py``.  Nothing
is downloaded: the cuts are tone / noise bursts with short serialized targets,
the tokenizer is trained on those targets and every model part is random-init.
"""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import yaml

from espnet_tagspeech.data.atomic import atomic_write
from espnet_tagspeech.data.turn import Turn

SAMPLE_RATE = 16000
TINY_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "tuning" / "train_tagspeech_tiny.yaml"

# (duration, [(speaker, gender, start, end, words, kind, freq)])
_CUTS = [
    (1.2, [("A", "f", 0.10, 0.90, "HELLO THERE", "tone", 440.0)]),
    (1.6, [("A", "m", 0.00, 0.70, "OKAY", "tone", 180.0),
           ("B", "f", 0.50, 1.50, "YES PLEASE", "noise", 0.0)]),
    (2.0, [("A", "u", 0.30, 1.80, "NO WAY", "tone", 1200.0)]),
    (1.4, [("A", "f", 0.20, 0.60, "HI", "noise", 0.0),
           ("B", "m", 0.70, 1.30, "BYE", "tone", 300.0)]),
]


def synth_cut(duration: float, spans: List[Tuple], seed: int) -> np.ndarray:
    """A waveform with one tone or noise burst per span (plus faint noise)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * SAMPLE_RATE))
    wav = 0.01 * rng.standard_normal(n)
    t = np.arange(n) / SAMPLE_RATE
    for _, _, s, e, _, kind, freq in spans:
        i, j = int(s * SAMPLE_RATE), int(e * SAMPLE_RATE)
        if kind == "tone":
            wav[i:j] += 0.5 * np.sin(2 * np.pi * freq * t[i:j])
        else:
            wav[i:j] += 0.3 * rng.standard_normal(j - i)
    return wav.astype(np.float32)


def make_cuts(out_dir: str, num_cuts: int = 3) -> Dict[str, Tuple[np.ndarray, str]]:
    """Write ``num_cuts`` synthetic cuts as a Kaldi-style data dir.

    Writes ``wav.scp``, ``text`` (escaped targets) and ``speech_shape``.

    Returns:
        ``{key: (waveform, target)}``.
    """
    import soundfile

    from espnet_tagspeech.serialization import serialize, target_to_line

    if not 1 <= num_cuts <= len(_CUTS):
        raise ValueError(f"num_cuts must be 1..{len(_CUTS)}")
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    cuts = {}
    for k, (dur, spans) in enumerate(_CUTS[:num_cuts]):
        key = f"cut{k + 1}"
        wav = synth_cut(dur, spans, seed=k)
        turns = [Turn.from_text(key, spk, s, e, words, g) for spk, g, s, e, words, _, _ in spans]
        path = out / "wav" / f"{key}.wav"
        soundfile.write(str(path), wav, SAMPLE_RATE, subtype="FLOAT")
        cuts[key] = (wav, serialize(turns))
    with atomic_write(out / "wav.scp") as f:
        f.writelines(f"{k} {out / 'wav' / (k + '.wav')}\n" for k in cuts)
    with atomic_write(out / "text") as f:
        f.writelines(f"{k} {target_to_line(t)}\n" for k, (_, t) in cuts.items())
    with atomic_write(out / "speech_shape") as f:
        f.writelines(f"{k} {len(w)}\n" for k, (w, _) in cuts.items())
    return cuts


def write_text_shape(data_dir: str, tokenizer) -> None:
    """Write ``text_shape`` (tokens per target) for ESPnet's batch samplers."""
    from espnet_tagspeech.serialization import line_to_target

    data = Path(data_dir)
    with open(data / "text", encoding="utf-8") as f, atomic_write(data / "text_shape") as g:
        for line in f:
            key, target = line.rstrip("\n").split(" ", 1)
            g.write(f"{key} {len(tokenizer.encode(line_to_target(target)))}\n")


def tiny_config(
    tokenizer_model: str, overrides: Optional[Dict] = None, base: Path = TINY_CONFIG
) -> Dict:
    """The tiny config with the tokenizer path set and nested ``overrides`` merged."""
    with open(base, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    cfg["llm_conf"]["tokenizer"] = str(tokenizer_model)
    merge_config(cfg, overrides or {})
    return cfg


def merge_config(dst: Dict, src: Dict) -> None:
    """Merge the nested dict ``src`` into ``dst`` in place (dicts merge, values replace)."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge_config(dst[k], v)
        else:
            dst[k] = v


def setup_tiny(
    work_dir: str, num_cuts: int = 3, overrides: Optional[Dict] = None, vocab_size: int = 64
) -> Tuple[Dict[str, Tuple[np.ndarray, str]], str]:
    """Cuts in ``work_dir/data``, tokenizer in ``work_dir/token``, config ``work_dir/config.yaml``.

    Returns:
        The cuts and the config path.
    """
    from espnet_tagspeech.data.targets import read_targets
    from espnet_tagspeech.model.tokenizer import train_sentencepiece
    from espnet_tagspeech.model.tokenizer import SentencePieceTokenizer

    work = Path(work_dir)
    cuts = make_cuts(str(work / "data"), num_cuts)
    spm = train_sentencepiece(read_targets(str(work / "data" / "text")), str(work / "token"), vocab_size)
    write_text_shape(str(work / "data"), SentencePieceTokenizer(spm))
    cfg = tiny_config(spm, overrides)
    with atomic_write(work / "config.yaml") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return cuts, str(work / "config.yaml")


def spelled_ctc_posteriors(labels: List[int], vocab_size: int, peak: float = 0.9) -> np.ndarray:
    """``(2 L + 1, V + 1)`` CTC log posteriors that spell ``labels`` (blank last).

    Blank frames around one frame per label, each frame ``peak`` sure of its
    symbol (the rest spread evenly): a stand-in SOT-CTC head for tests of joint
    CTC decoding.
    """
    frames = 2 * len(labels) + 1
    probs = np.full((frames, vocab_size + 1), (1 - peak) / vocab_size)
    for t in range(frames):
        probs[t, labels[t // 2] if t % 2 else vocab_size] = peak
    return np.log(probs)
