"""Packed models: the ESPnet-style zip that stage 10 writes and ``Speech2Tags.from_pretrained`` reads.

The zip holds ``meta.yaml`` (``files`` and ``yaml_files`` keyed by role:
``train_config``, ``model_file``, ``tokenizer_file``, ``ngram_file``,
``inference_config``, ``segment_config``, ``link_config``) and those files under their paths
relative to the recipe dir, so that ESPnet's ``unpack`` and espnet_model_zoo
read it too.
"""

from pathlib import Path
from typing import Dict, Optional, Sequence, Union


def check_packed(packed: Union[str, Path]) -> None:
    """Check that ``packed`` is a whole zip of a packed model (every member's CRC, ``meta.yaml``).

    Raises:
        DataFormatError: naming the zip and what is wrong with it.
    """
    import zipfile
    import zlib

    from espnet_tagspeech.data.errors import DataFormatError

    try:
        with zipfile.ZipFile(packed) as z:
            names = z.namelist()
            bad = z.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as e:  # truncated or not a zip at all
        raise DataFormatError(str(packed), None, f"not a readable zip ({e})") from None
    except zlib.error as e:  # a member whose compressed bytes were damaged
        raise DataFormatError(str(packed), None, f"corrupted zip: a member does not decompress ({e})") from None
    if bad is not None:
        raise DataFormatError(str(packed), None, f"corrupted zip: member {bad!r} fails its CRC check")
    if "meta.yaml" not in names:
        raise DataFormatError(str(packed), None, "no meta.yaml: not a packed model (see bin/pack.py)")
    unsafe = [n for n in names if n.startswith("/") or ".." in Path(n).parts]
    if unsafe:
        raise DataFormatError(str(packed), None, f"member paths outside the archive: {unsafe[:3]}")


def resolve_packed(
    path: Union[str, Path], cache_dir: Optional[Union[str, Path]] = None
) -> dict:
    """Files of a packed model: ``{"train_config": ..., "model_file": ...}``.

    Archives (zip, tar.gz) are unpacked with ESPnet's ``unpack`` (which rewrites
    paths of packed files inside the yaml files); a directory must hold
    ``meta.yaml`` with paths relative to it.

    Raises:
        FileNotFoundError: no such path, or no ``meta.yaml`` / listed file.
        DataFormatError: a zip that is truncated or corrupted (named).
    """
    import yaml

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"packed model not found: {path}")
    if path.is_dir():
        meta = path / "meta.yaml"
        if not meta.is_file():
            raise FileNotFoundError(f"{path}: no meta.yaml (not a packed model directory)")
        with meta.open(encoding="utf-8") as f:
            d = yaml.safe_load(f) or {}
        files = {k: str(path / v) for k, v in {**d.get("files", {}), **d.get("yaml_files", {})}.items()}
    else:
        files = _unpack(path, Path(cache_dir) if cache_dir else path.parent / (path.name.split(".")[0] + "_unpacked"))
    if "train_config" not in files:
        raise FileNotFoundError(f"{path}: meta.yaml lists no train_config")
    for k, v in files.items():
        if not Path(v).exists():
            raise FileNotFoundError(f"{path}: packed file {k} = {v} is missing")
    return files


def _unpack(path: Path, out: Path) -> Dict[str, str]:
    """ESPnet's ``unpack`` of a checked archive into ``out``, reused only when whole.

    ``out/.unpacked`` records which archive (size, mtime) was unpacked completely;
    without it (a run killed while unpacking, another archive under the same
    name) ``out`` is unpacked afresh.  A lock file beside ``out`` keeps two
    processes from unpacking into it at once.
    """
    import fcntl
    import shutil

    from espnet2.main_funcs.pack_funcs import unpack

    from espnet_tagspeech.data.atomic import atomic_write

    if path.suffix == ".zip":
        check_packed(path)
    st = path.stat()
    want = f"{path.name} {st.st_size} {st.st_mtime_ns}\n"
    stamp = out / ".unpacked"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text(encoding="utf-8") == want:
            return unpack(path, out)
        shutil.rmtree(out, ignore_errors=True)
        files = unpack(path, out, use_cache=False)
        with atomic_write(stamp) as f:
            f.write(want)
    return files


def _arcname(path: Union[str, Path]) -> str:
    """The name a file is packed under: its path relative to the working directory as
    given (a symlinked config keeps its recipe-relative name, never its target's path).

    Raises:
        ValueError: a path outside the working directory.
    """
    import os

    p = Path(path)
    if not p.is_absolute():
        norm = os.path.normpath(p)
        if norm != ".." and not norm.startswith(".." + os.sep):
            return Path(norm).as_posix()
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        raise ValueError(f"{path}: outside the working directory; pack from the recipe "
                         "directory so that the zip holds only relative paths") from None


def write_packed(
    out_path: Union[str, Path],
    files: Dict[str, Union[str, Path]],
    yaml_files: Dict[str, Union[str, Path]],
    option: Sequence[Union[str, Path]] = (),
) -> None:
    """Write an ESPnet-style packed model (``meta.yaml`` + files, read by ESPnet's
    ``unpack``) whose entries are named by their working-directory-relative paths.

    The zip appears whole or not at all (temporary file, then rename).

    Raises:
        FileNotFoundError: a missing input file.
        ValueError: an input outside the working directory.
    """
    import os
    import sys
    import tempfile
    import time
    import zipfile

    import yaml

    for v in [*files.values(), *yaml_files.values(), *option]:
        if not Path(v).is_file():
            raise FileNotFoundError(f"no such file to pack: {v}")
    files = {k: _arcname(v) for k, v in files.items()}
    yaml_files = {k: _arcname(v) for k, v in yaml_files.items()}
    meta = {"files": files, "yaml_files": yaml_files, "timestamp": time.time(), "python": sys.version}
    try:
        import torch

        meta["torch"] = str(torch.__version__)
    except ImportError:
        pass
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".zip", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("meta.yaml", yaml.safe_dump(meta))
            names = list(dict.fromkeys([*yaml_files.values(), *files.values(), *map(_arcname, option)]))
            for name in names:
                z.write(name if Path(name).exists() else Path.cwd() / name, arcname=name)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def pack_model(
    out_path: Union[str, Path],
    train_config: Union[str, Path],
    model_file: Union[str, Path],
    extra_files: Sequence[Union[str, Path]] = (),
) -> None:
    """Pack config, model and extra files (tokenizer) as an ESPnet-style zip.

    Paths are stored relative to the working directory, so run it from the
    recipe directory whose relative paths the config uses.
    """
    write_packed(out_path, {"model_file": model_file}, {"train_config": train_config}, list(extra_files))
