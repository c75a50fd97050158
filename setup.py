"""Packaging for espnet-tagspeech (an ESPnet plugin: task, recipes, scoring)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements(name: str) -> list:
    lines = (HERE / name).read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]


# console name -> module under espnet_tagspeech.bin (each has main(argv=None))
COMMANDS = {
    "tagspeech-train": "tagspeech_train",
    "tagspeech-inference": "tagspeech_inference",
    "tagspeech-simulate": "simulate_meetings",
    "tagspeech-make-cuts": "make_cuts",
    "tagspeech-validate-data-dir": "validate_data_dir",
    "tagspeech-fix-data-dir": "fix_data_dir",
    "tagspeech-score-diarization": "score_diarization",
    "tagspeech-score-words": "score_words",
    "tagspeech-results": "tagspeech_results",
    "tagspeech-plot-timeline": "plot_timeline",
    "tagspeech-format-wav-scp": "format_wav_scp",
    "tagspeech-merge-decodes": "merge_decodes",
    "tagspeech-pack": "pack",
    "tagspeech-upload": "upload_model",
    "tagspeech-prepare-ami": "prepare_ami",
    "tagspeech-prepare-alimeeting": "prepare_alimeeting",
    "tagspeech-train-tokenizer": "train_tokenizer",
    "tagspeech-train-ngram": "train_ngram",
}

setup(
    name="espnet-tagspeech",
    version="0.1.0",
    description="TagSpeech for ESPnet: end-to-end who spoke what and when in meetings",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["espnet_tagspeech", "espnet_tagspeech.*"]),
    install_requires=_requirements("requirements.txt"),
    extras_require={"test": _requirements("requirements-test.txt")},
    entry_points={
        "console_scripts": [
            f"{name}=espnet_tagspeech.bin.{mod}:main" for name, mod in COMMANDS.items()
        ]
    },
)
