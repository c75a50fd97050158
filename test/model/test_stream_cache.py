"""Dumped encoder outputs: top-k posteriors, the dump's files, and training on them
giving the loss that training on the speech gives."""

import copy

import kaldiio
import numpy as np
import pytest
import soundfile
import torch

from espnet_tagspeech.model.stream_cache import (
    NAMES,
    StreamFeatures,
    dense_posteriors,
    dump_stream_features,
    topk_posteriors,
)
from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config


def test_topk_round_trip_keeps_the_largest_posteriors():
    post = torch.softmax(torch.randn(2, 5, 11) * 4, dim=-1)
    ids, probs = topk_posteriors(post, 3)
    dense = dense_posteriors(ids, probs, 11)
    assert dense.shape == post.shape
    assert torch.equal(dense.argmax(-1), post.argmax(-1))
    kept = dense > 0
    assert int(kept.sum()) == 2 * 5 * 3
    torch.testing.assert_close(dense[kept], post[kept])


def test_padding_ids_add_nothing():
    ids = torch.tensor([[[2, 0], [-1, -1]]])
    probs = torch.tensor([[[0.75, 0.25], [0.0, 0.0]]])
    dense = dense_posteriors(ids, probs, 4)
    assert dense[0, 1].abs().sum() == 0
    assert dense[0, 0].tolist() == [0.25, 0.0, 0.75, 0.0]


def test_missing_names_are_named():
    with pytest.raises(ValueError, match="ctc_topk_ids"):
        StreamFeatures.from_batch(
            {"semantic_feats": torch.zeros(1, 2, 3), "semantic_feats_lengths": torch.tensor([2]),
             "speaker_feats": torch.zeros(1, 4, 3), "speaker_feats_lengths": torch.tensor([4])},
            num_labels=10,
        )


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    work = tmp_path_factory.mktemp("cache")
    cuts, cfg = setup_tiny(str(work), num_cuts=3)
    args = args_from_config(cfg)
    args.semantic_encoder_conf = {**args.semantic_encoder_conf, "freeze": True}
    args.model_conf = {**(args.model_conf or {}), "ctc_embed": True}
    torch.manual_seed(0)
    model = TagSpeechTask.build_model(args).eval()
    data = work / "cuts"
    data.mkdir()
    with open(data / "wav.scp", "w") as f:
        for key, (wav, _) in cuts.items():
            soundfile.write(data / f"{key}.wav", wav, 16000)
            f.write(f"{key} {data / key}.wav\n")
    return model, cuts, data, work


def _collate(items):
    out = {}
    for name in items[0]:
        arrs = [torch.from_numpy(np.asarray(x[name]).astype(
            np.int64 if np.issubdtype(x[name].dtype, np.integer) else np.float32)) for x in items]
        lens = torch.tensor([a.shape[0] for a in arrs])
        pad = -1 if arrs[0].dtype == torch.int64 else 0.0
        t = torch.full((len(arrs), int(lens.max())) + tuple(arrs[0].shape[1:]), pad, dtype=arrs[0].dtype)
        for i, a in enumerate(arrs):
            t[i, : a.shape[0]] = a
        out[name], out[f"{name}_lengths"] = t, lens
    return out


def test_dump_writes_every_name_and_training_on_it_matches_speech(frozen):
    model, cuts, data, work = frozen
    out = work / "streams"
    n = dump_stream_features(model, str(data), str(out), batch_sec=3.0, top_k=8)
    assert n == len(cuts)
    assert (out / "feats_info.yaml").is_file()
    assert not list(out.glob(".*tmp"))
    feats = {name: kaldiio.load_scp(str(out / f"{name}.scp")) for name in NAMES}
    keys = sorted(cuts)
    assert all(sorted(feats[name].keys()) == keys for name in NAMES)
    assert feats["semantic_feats"][keys[0]].dtype == np.float16
    tok = model.llm.tokenizer
    ids = [tok.encode(cuts[k][1]) for k in keys]
    text = torch.full((len(ids), max(map(len, ids))), -1)
    for i, x in enumerate(ids):
        text[i, : len(x)] = torch.tensor(x)
    tlen = torch.tensor([len(x) for x in ids])
    wavs = [torch.from_numpy(cuts[k][0]) for k in keys]
    lens = torch.tensor([len(w) for w in wavs])
    speech = torch.zeros(len(wavs), int(lens.max()))
    for i, w in enumerate(wavs):
        speech[i, : len(w)] = w
    batch = _collate([{name: feats[name][k] for name in NAMES} for k in keys])
    with torch.no_grad():
        from_speech = model(speech, lens, text, tlen)[0]
        from_dump = model(text=text, text_lengths=tlen, **batch)[0]
    # float16 storage and top-8 posteriors: the same loss within rounding
    assert float(from_dump) == pytest.approx(float(from_speech), rel=2e-3)


def test_dump_refuses_an_encoder_that_trains(frozen):
    model, _, data, work = frozen
    trains = copy.deepcopy(model)
    trains.semantic_encoder.frozen = False
    with pytest.raises(ValueError, match="semantic_encoder is not frozen"):
        dump_stream_features(trains, str(data), str(work / "x"))


def test_forward_needs_speech_or_features(frozen):
    model = frozen[0]
    with pytest.raises(ValueError, match="speaker_feats|semantic_feats"):
        model(text=torch.zeros(1, 2, dtype=torch.long), text_lengths=torch.tensor([2]))
