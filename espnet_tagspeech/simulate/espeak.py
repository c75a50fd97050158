"""espeak-ng synthesis of single words, each independent of the words before it.

libespeak-ng keeps state from one ``espeak_Synth`` call to the next (the phase
of its pitch flutter, its noise generator), so a word synthesized after other
words differs from the same word synthesized first, even in length; it also
keeps some settings from one voice to the next.  Every word is therefore
synthesized from the state of a freshly loaded voice, by one of two engines:

* ``library`` (default): a server process per voice (:mod:`.espeak_server`)
  loads libespeak-ng through ctypes and the voice once, then forks a child per
  word.  The samples are bit-identical to those of the ``espeak-ng`` command,
  and a word costs a fork instead of a process start that loads the phoneme
  data, the dictionary and the voice again.
* ``command`` (fallback when the library is not found): one ``espeak-ng``
  process per word.

Both return the raw samples; trimming and resampling are done by
:mod:`espnet_tagspeech.simulate.voices`.
"""

import array
import atexit
import ctypes
import ctypes.util
import io
import logging
import os
import shutil
import struct
import subprocess
import sys
import wave
from typing import Dict, Optional, Tuple, Union

from espnet_tagspeech.simulate import espeak_server

LIBRARY_ENV = "ESPEAK_NG_LIBRARY"
ENGINES = ("auto", "library", "command")

INSTALL_HINT = (
    "The meeting simulator needs espeak-ng: install it with "
    "`sudo apt-get install espeak-ng` (Debian/Ubuntu; it brings libespeak-ng1), or run "
    "`make install-system` in the repository root."
)


class EspeakNotFoundError(RuntimeError):
    """Neither libespeak-ng nor the espeak-ng command is usable (the message says why)."""


def find_library() -> Optional[str]:
    """The libespeak-ng to load: ``$ESPEAK_NG_LIBRARY`` if set, else the system's, else None.

    Raises:
        EspeakNotFoundError: if ``$ESPEAK_NG_LIBRARY`` names a library that cannot be loaded.
    """
    override = os.environ.get(LIBRARY_ENV)
    candidates = [override] if override else [ctypes.util.find_library("espeak-ng"), "libespeak-ng.so.1"]
    for name in candidates:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            if not (hasattr(lib, "espeak_Initialize") and hasattr(lib, "espeak_Synth")):
                raise OSError("no espeak_Initialize / espeak_Synth in it")
        except OSError as e:
            if override:
                raise EspeakNotFoundError(f"{LIBRARY_ENV}={override} cannot be loaded as "
                                          f"libespeak-ng ({e}). {INSTALL_HINT}") from e  # fmt: skip
            continue
        return name
    return None


def resolve_engine(engine: str = "auto") -> Tuple[str, str]:
    """The engine to use and what it runs: ``("library", lib)`` or ``("command", exe)``.

    Args:
        engine: ``auto`` (the library if it loads, else the command), ``library`` or ``command``.

    Raises:
        ValueError: for an unknown engine name.
        EspeakNotFoundError: naming what is missing.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown espeak-ng engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine in ("auto", "library"):
        lib = find_library()
        if lib is not None:
            return "library", lib
        if engine == "library":
            raise EspeakNotFoundError(f"libespeak-ng (libespeak-ng.so.1) was not found. {INSTALL_HINT}")
    exe = shutil.which("espeak-ng")
    if exe is None:
        missing = "the espeak-ng command is not on PATH"
        if engine == "auto":
            missing = "neither libespeak-ng (libespeak-ng.so.1) nor the espeak-ng command was found"
        raise EspeakNotFoundError(f"{missing}. {INSTALL_HINT}")
    return "command", exe


class CommandSynthesizer:
    """One ``espeak-ng`` process per word (the fallback engine).

    Args:
        exe: Path of the ``espeak-ng`` command.
    """

    engine = "command"

    def __init__(self, exe: str) -> None:
        self.exe = exe

    def samples(self, voice: str, pitch: int, speed: int, word: str,
                data_path: Optional[str] = None) -> Tuple[bytes, int]:  # fmt: skip
        """Little-endian int16 samples of ``word`` and their sample rate.

        ``data_path``: the directory holding the ``espeak-ng-data`` to use (None: the system's).

        Raises:
            RuntimeError: if espeak-ng fails.
        """
        cmd = [self.exe, "--stdout", "-v", voice, "-p", str(pitch), "-s", str(speed), word]
        if data_path:
            cmd.insert(1, f"--path={data_path}")
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode != 0 or not proc.stdout:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"espeak-ng failed for {word!r} ({voice}): {err}")
        with wave.open(io.BytesIO(proc.stdout)) as w:
            return w.readframes(w.getnframes()), w.getframerate()

    def close(self) -> None:
        """Nothing to release."""


class LibrarySynthesizer:
    """Client of the libespeak-ng word server (:mod:`.espeak_server`) of one voice at a time.

    A server serves one (voice, pitch, speed): asking for another one replaces
    it (a start costs ~0.1 s, so callers group their words by voice).  A server
    belongs to the process that started it: a forked worker starts its own.

    Args:
        library: Name or path of libespeak-ng.
    """

    engine = "library"

    def __init__(self, library: str) -> None:
        self.library = library
        self.sample_rate = 0
        self._proc: Optional[subprocess.Popen] = None
        self._owner = -1
        self._voice: Optional[Tuple[str, int, int, Optional[str]]] = None

    def _start(self, voice: str, pitch: int, speed: int, data_path: Optional[str]) -> None:
        self.close()
        # -I -S: the server needs the standard library only, and every module it loads makes forks dearer
        cmd = [sys.executable, "-I", "-S", os.path.abspath(espeak_server.__file__), self.library,
               voice, str(pitch), str(speed)] + ([data_path] if data_path else [])  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._owner = os.getpid()
        status, payload = self._reply()
        if status != espeak_server.STATUS_OK:
            self.close()
            message = payload.decode("utf-8", "replace")
            if message.startswith("unknown voice"):
                raise RuntimeError(f"espeak-ng: {message}")
            raise EspeakNotFoundError(f"libespeak-ng ({self.library}) failed to start: {message}")
        (self.sample_rate,) = struct.unpack("<i", payload)
        self._voice = (voice, pitch, speed, data_path)

    def _reply(self) -> Tuple[int, bytes]:
        assert self._proc is not None and self._proc.stdout is not None
        head = self._proc.stdout.read(espeak_server.HEADER.size)
        if len(head) < espeak_server.HEADER.size:
            proc = self._proc
            self.close()  # waits for it
            raise RuntimeError(f"the libespeak-ng server stopped (exit status {proc.returncode})")
        status, n = espeak_server.HEADER.unpack(head)
        return status, self._proc.stdout.read(n)

    def samples(self, voice: str, pitch: int, speed: int, word: str,
                data_path: Optional[str] = None) -> Tuple[bytes, int]:  # fmt: skip
        """Little-endian int16 samples of ``word`` and their sample rate.

        ``data_path``: the directory holding the ``espeak-ng-data`` to use (None: the system's).

        Raises:
            ValueError: if ``word`` contains a line break.
            RuntimeError: if the voice is unknown or synthesis fails.
        """
        if "\n" in word or "\r" in word:
            raise ValueError(f"line break in a word to synthesize: {word!r}")
        pitch, speed = int(pitch), int(speed)
        key = (voice, pitch, speed, data_path)
        if self._proc is None or self._owner != os.getpid() or self._voice != key:
            self._start(*key)
        assert self._proc is not None and self._proc.stdin is not None
        # one request in flight: measured faster on 2 busy cores than keeping several
        self._proc.stdin.write(word.encode("utf-8") + b"\n")
        self._proc.stdin.flush()
        status, payload = self._reply()
        if status != espeak_server.STATUS_OK:
            raise RuntimeError(f"espeak-ng failed for {word!r} ({voice}): "
                               f"{payload.decode('utf-8', 'replace')}")  # fmt: skip
        if sys.byteorder == "big":  # the server sends native order
            swapped = array.array("h", payload)
            swapped.byteswap()
            payload = swapped.tobytes()
        return payload, self.sample_rate

    def close(self) -> None:
        """Stop the server (only one this process started; a parent's is left alone)."""
        proc, self._proc, self._voice = self._proc, None, None
        if proc is None or self._owner != os.getpid():
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


Synthesizer = Union[LibrarySynthesizer, CommandSynthesizer]
_SYNTHESIZERS: Dict[Tuple[int, str], Synthesizer] = {}  # by (process id, engine)


def get_synthesizer(engine: str = "auto") -> Synthesizer:
    """The synthesizer of this process for ``engine`` (created once per process).

    Returns:
        A :class:`LibrarySynthesizer` or a :class:`CommandSynthesizer`.

    Raises:
        ValueError: for an unknown engine name.
        EspeakNotFoundError: naming what is missing.
    """
    key = (os.getpid(), engine)
    if key not in _SYNTHESIZERS:
        kind, target = resolve_engine(engine)
        synth = LibrarySynthesizer(target) if kind == "library" else CommandSynthesizer(target)
        if kind == "command" and engine == "auto":
            logging.warning("libespeak-ng not found: one espeak-ng process per word (slow)")
        logging.debug("espeak-ng engine %s: %s", kind, target)
        _SYNTHESIZERS[key] = synth
    return _SYNTHESIZERS[key]


@atexit.register
def _close_synthesizers() -> None:
    """Stop the servers this process started (forked workers leave their parent's alone)."""
    pid = os.getpid()
    for (owner, _), synth in list(_SYNTHESIZERS.items()):
        if owner == pid:
            synth.close()
