"""The libespeak-ng word server of one voice: a fork per word from an untouched state.

Run as ``python -I -S espeak_server.py LIBRARY VOICE PITCH SPEED [DATA_PATH]`` by
:class:`espnet_tagspeech.simulate.espeak.LibrarySynthesizer` (``DATA_PATH``: the
directory holding the ``espeak-ng-data`` to use, default the system's).  It imports only
``ctypes``, ``os``, ``signal``, ``struct``, ``sys`` and ``typing``: every
module loaded here makes each fork dearer (``threading`` and ``logging`` add
work after every fork).

libespeak-ng carries state from one call to the next: its pitch-flutter phase
and noise generator across syntheses, and some settings of a variant (such as
its intonation) across voice changes.  The server therefore makes the calls of
the ``espeak-ng`` command, in its order (initialize, set the voice, the rate,
the pitch), once, and never synthesizes itself: for each word it forks a
child that synthesizes from that state and pipes the samples back.  The
samples are bit-identical to those of the command; a new voice needs a new
server.

Protocol: requests are lines holding one word each; every reply is a header
``<int32 status><uint32 length>`` and ``length`` bytes: native int16 samples
when ``status`` is 0, else an error message.  The first reply (before any
request) carries the sample rate as an int32, or the error that stopped the
server.
"""

import ctypes
import os
import struct
import sys
from typing import BinaryIO, List, Optional, Tuple

HEADER = struct.Struct("<iI")
STATUS_OK, STATUS_ERROR = 0, 1

# constants of espeak-ng's speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_RATE, _PITCH = 1, 3
# the flags of the espeak-ng command: auto charset | [[phonemes]] allowed | pause at the end
_SYNTH_FLAGS = 0x0 | 0x100 | 0x1000
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def send(out: BinaryIO, status: int, payload: bytes) -> None:
    """Write one framed reply."""
    out.write(HEADER.pack(status, len(payload)))
    out.write(payload)
    out.flush()


def load_library(library: str) -> ctypes.CDLL:
    """Load libespeak-ng and declare the signatures the server calls.

    Raises:
        OSError: if it cannot be loaded or lacks a function.
    """
    lib = ctypes.CDLL(library)
    c = ctypes
    signatures = {
        "espeak_Initialize": ([c.c_int, c.c_int, c.c_char_p, c.c_int], c.c_int),
        "espeak_SetSynthCallback": ([_CALLBACK], None),
        "espeak_SetVoiceByName": ([c.c_char_p], c.c_int),
        "espeak_SetParameter": ([c.c_int, c.c_int, c.c_int], c.c_int),
        "espeak_Synth": ([c.c_char_p, c.c_size_t, c.c_uint, c.c_int, c.c_uint, c.c_uint,
                          c.c_void_p, c.c_void_p], c.c_int),  # fmt: skip
        "espeak_Synchronize": ([], c.c_int),
    }
    for name, (argtypes, restype) in signatures.items():
        try:
            func = getattr(lib, name)
        except AttributeError as e:
            raise OSError(f"{library} has no {name}") from e
        func.argtypes, func.restype = argtypes, restype
    return lib


def synthesize_in_child(lib: ctypes.CDLL, word: str, chunks: List[bytes]) -> Tuple[int, bytes]:
    """Fork; the child synthesizes ``word`` and pipes back its samples (or an error).

    Returns:
        ``(status, payload)`` of the reply.
    """
    text = word.encode("utf-8") + b"\0"
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: synthesize from the parent's untouched state, then exit
        code = 4
        try:
            os.close(read_fd)
            chunks.clear()
            rc = lib.espeak_Synth(text, len(text), 0, _POS_CHARACTER, 0, _SYNTH_FLAGS, None, None)
            if rc == 0:
                rc = lib.espeak_Synchronize()
            data = b"".join(chunks) if rc == 0 else f"espeak_Synth returned error {rc}".encode()
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
            code = 0 if rc == 0 else 3
        finally:
            os._exit(code)  # never return into the server loop
    os.close(write_fd)
    parts = []
    while True:
        part = os.read(read_fd, 1 << 16)
        if not part:
            break
        parts.append(part)
    os.close(read_fd)
    _, wait_status = os.waitpid(pid, 0)
    data = b"".join(parts)
    if os.WIFEXITED(wait_status) and os.WEXITSTATUS(wait_status) == 0:
        return STATUS_OK, data
    if not data:
        data = f"the synthesis process ended with wait status {wait_status}".encode()
    return STATUS_ERROR, data


def answer_requests(lib: ctypes.CDLL, chunks: List[bytes], inp: BinaryIO, out: BinaryIO) -> None:
    """Answer request lines (one word each) from ``inp`` until it is closed."""
    for line in inp:
        send(out, *synthesize_in_child(lib, line.decode("utf-8").rstrip("\n"), chunks))


def serve(library: str, voice: str, pitch: int, speed: int, inp: BinaryIO, out: BinaryIO,
          data_path: Optional[str] = None) -> int:
    """Initialize libespeak-ng with a voice, greet with the sample rate, answer requests.

    ``data_path`` is the directory holding ``espeak-ng-data`` (None: the system's).

    Returns:
        The exit status (1 if the library or the voice could not be loaded).
    """
    try:
        lib = load_library(library)
    except OSError as e:
        send(out, STATUS_ERROR, f"cannot load {library}: {e}".encode())
        return 1
    path = data_path.encode() if data_path else None
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        send(out, STATUS_ERROR, b"espeak_Initialize failed (is espeak-ng-data installed?)")
        return 1
    if lib.espeak_SetVoiceByName(voice.encode("utf-8")) != 0:
        send(out, STATUS_ERROR, f"unknown voice {voice!r}".encode())
        return 1
    lib.espeak_SetParameter(_RATE, speed, 0)
    lib.espeak_SetParameter(_PITCH, pitch, 0)
    chunks: List[bytes] = []

    def collect(wav, n, _events) -> int:
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0

    callback = _CALLBACK(collect)  # referenced until serve() returns
    lib.espeak_SetSynthCallback(callback)
    send(out, STATUS_OK, struct.pack("<i", rate))
    try:
        answer_requests(lib, chunks, inp, out)
    except BrokenPipeError:  # the client went away
        pass
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the client; the server then sees EOF
    library, voice, pitch, speed = sys.argv[1:5]
    data_path = sys.argv[5] if len(sys.argv) > 5 else None
    sys.exit(serve(library, voice, int(pitch), int(speed), sys.stdin.buffer, sys.stdout.buffer, data_path))
