"""espeak-ng engines: the libespeak-ng server against the espeak-ng command, fallback, errors."""

import os
import shutil

import pytest

from espnet_tagspeech.simulate import espeak as E

LIBRARY = E.find_library()
needs_library = pytest.mark.skipif(LIBRARY is None, reason="libespeak-ng is not installed")
needs_both = pytest.mark.skipif(LIBRARY is None or shutil.which("espeak-ng") is None,
                                reason="libespeak-ng or the espeak-ng command is missing")  # fmt: skip


@pytest.fixture
def library():
    synth = E.LibrarySynthesizer(LIBRARY)
    yield synth
    synth.close()


@needs_both
def test_library_is_bit_identical_to_the_command_across_voice_changes(library):
    command = E.CommandSynthesizer(shutil.which("espeak-ng"))
    # steph3 has pitch flutter, whose phase libespeak-ng carries from word to word
    requests = [("en+antonio", 40, 200, "budget"), ("en-us+Andrea", 60, 215, "friday"),
                ("en-gb-scotland+steph3", 30, 190, "presentation"),
                ("en-gb-scotland+steph3", 30, 190, "yeah"), ("en-us+Andrea", 60, 215, "friday")]  # fmt: skip
    servers = []
    for req in requests:
        raw, sr = library.samples(*req)
        assert sr == 22050 and len(raw) > 2000 and len(raw) % 2 == 0
        assert (raw, sr) == command.samples(*req), req
        servers.append(library._proc.pid)
    # libespeak-ng also keeps settings across voice loads (after dozens of voices later words
    # change), so every voice change starts a fresh server
    assert servers[2] == servers[3] and len({servers[0], servers[1], servers[2], servers[4]}) == 4


@needs_library
def test_library_word_does_not_depend_on_earlier_words(library):
    voice = ("en+croak", 50, 205)  # strong flutter
    first = library.samples(*voice, "monday")
    for word in ("wednesday", "the quick brown fox", "mhm"):
        library.samples(*voice, word)
    assert library.samples(*voice, "monday") == first


@needs_library
def test_library_errors_are_clear_and_recoverable(library):
    with pytest.raises(RuntimeError, match="unknown voice 'xx-nowhere'"):
        library.samples("xx-nowhere", 50, 200, "budget")
    with pytest.raises(ValueError, match="line break"):
        library.samples("en-us+m3", 50, 200, "two\nlines")
    assert len(library.samples("en-us+m3", 50, 200, "budget")[0]) > 2000


@needs_library
def test_a_forked_process_gets_its_own_server(library):
    want = library.samples("en-us+f2", 50, 200, "okay")
    pid = os.fork()
    if pid == 0:  # a worker: must not talk through its parent's pipes
        try:
            ok = library.samples("en-us+f2", 50, 200, "okay") == want
            library.close()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert library.samples("en-us+f2", 50, 200, "okay") == want  # the parent's server still serves


def test_engine_resolution_and_fallback(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown espeak-ng engine 'fast'"):
        E.resolve_engine("fast")
    monkeypatch.setattr(E, "find_library", lambda: None)
    if shutil.which("espeak-ng"):
        assert E.resolve_engine("auto") == ("command", shutil.which("espeak-ng"))
    with pytest.raises(E.EspeakNotFoundError, match=r"libespeak-ng \(libespeak-ng.so.1\) was not found"):
        E.resolve_engine("library")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(E.EspeakNotFoundError, match="neither libespeak-ng .* nor the espeak-ng command"):
        E.resolve_engine("auto")
    with pytest.raises(E.EspeakNotFoundError, match="espeak-ng command is not on PATH"):
        E.resolve_engine("command")


def test_library_override(monkeypatch, tmp_path):
    not_a_library = tmp_path / "libespeak-ng.so.1"
    not_a_library.write_text("no ELF here")
    monkeypatch.setenv(E.LIBRARY_ENV, str(not_a_library))
    with pytest.raises(E.EspeakNotFoundError, match=f"{E.LIBRARY_ENV}=.*cannot be loaded"):
        E.find_library()
    if LIBRARY is not None:
        monkeypatch.setenv(E.LIBRARY_ENV, LIBRARY)
        assert E.resolve_engine() == ("library", LIBRARY)


@needs_library
def test_one_synthesizer_per_process_and_engine():
    assert E.get_synthesizer() is E.get_synthesizer("auto")
    assert isinstance(E.get_synthesizer("library"), E.LibrarySynthesizer)
    assert E.get_synthesizer("library") is not E.get_synthesizer()
