"""Loading the three parts from local directories (the pretrained path)."""

import pytest
import torch

from espnet_tagspeech.bin.build_tiny_model import main as build_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained")
    build_tiny(["--out_dir", str(out)])
    return out


def test_parts_load_exactly_from_local_dirs(tiny_dir):
    from transformers import AutoModelForCausalLM, WavLMModel

    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    torch.manual_seed(123)  # different from the seed the parts were made with
    model = TagSpeechTask.build_model(args_from_config(str(tiny_dir / "config.yaml")))
    wavlm = WavLMModel.from_pretrained(tiny_dir / "wavlm", local_files_only=True)
    for k, v in wavlm.state_dict().items():
        torch.testing.assert_close(model.semantic_encoder.wavlm.state_dict()[k], v)
    llm = AutoModelForCausalLM.from_pretrained(tiny_dir / "llm", local_files_only=True)
    for k, v in llm.state_dict().items():
        torch.testing.assert_close(model.llm.model.state_dict()[k], v)
    saved = torch.load(tiny_dir / "ecapa" / "model.pth", weights_only=False)
    for k, v in model.speaker_encoder.encoder.state_dict().items():
        torch.testing.assert_close(v, saved[f"encoder.{k}"])
    # freezing follows the tiny config: WavLM trains, ECAPA is frozen
    assert not model.semantic_encoder.frozen and model.speaker_encoder.frozen


def test_missing_local_model_is_a_clear_error(tiny_dir):
    from espnet_tagspeech.model.speaker import EcapaStream

    with pytest.raises(FileNotFoundError, match="not found locally"):
        EcapaStream(model_name_or_path=str(tiny_dir / "nope"))
    with pytest.raises(ValueError, match="needs model_name_or_path"):
        EcapaStream(init="pretrained")
    with pytest.raises(ValueError, match="init must be"):
        EcapaStream(init="zeros")
