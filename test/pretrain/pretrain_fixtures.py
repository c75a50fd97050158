"""Labels for the tiny cuts (RTTM, word CTM, cut2reco) and a one-call pre-training run."""

from pathlib import Path

from espnet_tagspeech.model.tiny import _CUTS


def write_speaker_labels(data: Path, num_cuts: int) -> Path:
    """cut2reco (each cut its own recording) and an RTTM whose speakers are the sources."""
    rttm = data / "rttm"
    with open(data / "cut2reco", "w") as c2r, open(rttm, "w") as f:
        for k, (dur, spans) in enumerate(_CUTS[:num_cuts]):
            key = f"cut{k + 1}"
            c2r.write(f"{key} reco{k + 1} 0.00 {dur:.2f}\n")
            for _, _, s, e, _, kind, freq in spans:
                f.write(f"SPEAKER reco{k + 1} 1 {s:.3f} {e - s:.3f} <NA> <NA> {kind}{int(freq)} <NA> <NA>\n")
    return rttm


def pretrain(conf, train_dir, valid_dir, tokenizer, output_dir, **paths):
    """Run the library entry point from a config mapping (as the yaml gives it)."""
    from espnet_tagspeech.pretrain.config import PretrainConfig
    from espnet_tagspeech.pretrain.trainer import PretrainData, run_pretrain

    return run_pretrain(PretrainConfig.from_dict(conf),
                        PretrainData(train_dir, valid_dir, tokenizer=tokenizer, **paths), output_dir)


def write_word_times(data: Path, num_cuts: int) -> Path:
    """A CTM (channel = speaker) spreading each span's words evenly over it."""
    ctm = data / "words.ctm"
    with open(ctm, "w") as f:
        for k, (_, spans) in enumerate(_CUTS[:num_cuts]):
            for _, _, s, e, words, kind, freq in spans:
                ws = words.split()
                step = (e - s) / len(ws)
                for i, w in enumerate(ws):
                    f.write(f"reco{k + 1} {kind}{int(freq)} {s + i * step:.3f} {step * 0.9:.3f} {w}\n")
    return ctm
