"""Pre-training data: speaker frame labels, t-SOT targets, duration batches, the sampler's state."""

import numpy as np
import pytest
from pretrain_fixtures import write_speaker_labels, write_word_times

from espnet_tagspeech.model.tiny import setup_tiny


def test_frame_labels_follow_the_spans():
    import numpy as np

    from espnet_tagspeech.pretrain.data import PretrainCut, frame_labels

    cut = PretrainCut("c", np.zeros(16000, dtype=np.float32), [1], [(0, 0.0, 0.25), (2, 0.2, 0.5)])
    lab = frame_labels([cut], 10, 0.1, 3)  # frame centres 0.05, 0.15, ...
    assert lab[0, :, 0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert lab[0, :, 1].sum() == 0
    assert lab[0, :, 2].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]


def test_time_ordered_ctc_targets_from_rttm_and_ctm(tmp_path):
    from espnet_tagspeech.pretrain.data import cut_tsot_elements
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.tsot import tsot_text

    setup_tiny(str(tmp_path), num_cuts=4)
    data = tmp_path / "data"
    rttm, ctm = write_speaker_labels(data, 4), write_word_times(data, 4)
    els = cut_tsot_elements(data, str(rttm), str(ctm), channels=2)
    assert tsot_text(els["cut1"]) == "HELLO THERE\n"
    # OKAY (0.0-0.7) and YES PLEASE (0.5-1.5) overlap: two channels, words by start time
    assert tsot_text(els["cut2"]) == "OKAY\n<cc> YES PLEASE\n"
    assert tsot_text(els["cut4"]) == "HI\nBYE\n"  # no overlap: one channel
    with open(ctm, "a") as f:
        f.write("reco1 tone440 1.100 0.050 STRAY\n")
    with pytest.raises(DataFormatError, match=r"words.ctm:10: word 'STRAY'.*no turn of tone440"):
        cut_tsot_elements(data, str(rttm), str(ctm), channels=2)


def test_duration_batches_cover_every_cut_once_within_the_budget():
    import numpy as np

    from espnet_tagspeech.pretrain.data import duration_batches

    rng = np.random.default_rng(0)
    durations = list(rng.uniform(0.5, 12.0, 500)) + [30.0]
    epochs = [duration_batches(durations, 40.0, rng) for _ in range(2)]
    for batches in epochs:
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(len(durations)))
        for b in batches:
            padded = len(b) * max(durations[i] for i in b)
            assert padded <= 40.0 or len(b) == 1
        # similar lengths in a batch: the padding is a small part of the budget
        real = sum(durations)
        padded = sum(len(b) * max(durations[i] for i in b) for b in batches)
        assert padded < 1.15 * real
    # the longest cut is a batch of its own; the two epochs are batched differently
    assert any(b.tolist() == [500] for b in epochs[0])
    assert [b.tolist() for b in epochs[0]] != [b.tolist() for b in epochs[1]]
    with pytest.raises(ValueError, match="batch_sec"):
        duration_batches(durations, 0.0, rng)


@pytest.mark.parametrize("batching", [{"batch_size": 3, "batch_sec": None}, {"batch_size": 3, "batch_sec": 9.0}],
                         ids=["count", "seconds"])
def test_sampler_state_restores_the_same_batch_sequence(batching):
    from espnet_tagspeech.pretrain.data import CutBatchSampler

    durations = list(np.random.default_rng(1).uniform(0.5, 4.0, 40))
    sampler = CutBatchSampler(durations, rng=np.random.default_rng(0), **batching)
    for _ in range(7):  # part-way into an epoch
        next(sampler)
    state = sampler.state_dict()
    ahead = [next(sampler).tolist() for _ in range(25)]  # crosses into later epochs
    other = CutBatchSampler(durations, rng=np.random.default_rng(123), **batching)
    other.load_state_dict(state)
    assert [next(other).tolist() for _ in range(25)] == ahead
    assert len(set(map(tuple, ahead))) > 1
