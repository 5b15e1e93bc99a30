"""Files in and out: bounded text reads, atomic writes, append-only JSONL rows.

Every file the project reads from a user goes through :func:`read_text`, which reads only regular
files (or standard input) and stops at :data:`MAX_INPUT_BYTES` while reading, so a device file or
a FIFO cannot make it block or run out of memory. Every file it writes lands atomically: written
to a temporary file beside the target, fsynced, then renamed over it, so a reader (or a run
killed half way) sees the old file or the new one, never half of one.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text_atomic(folder / "a.txt", "hello\\n")
>>> read_text(folder / "a.txt")
'hello\\n'
>>> with RowWriter(folder / "rows.jsonl") as rows:
...     rows.write({"id": "a"})
>>> read_rows(folder / "rows.jsonl")
[{'id': 'a'}]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typing.Self is Python 3.11+
    from typing_extensions import Self

from compose.errors import UsageError

Row = dict[str, Any]

#: Largest input file the commands read (scene programs, prompt files, JSONL specs).
MAX_INPUT_BYTES = 16 * 1024 * 1024
#: Pixels of an image read from a file (checked from its header, before it is decoded). E507.
MAX_IMAGE_PIXELS = 2048 * 2048
#: Digits of one number in JSON input (Python's own limit on reading integers, kept). E005/E601.
MAX_NUMBER_DIGITS = 4300


def read_bytes(path: str | os.PathLike, what: str = "input", *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file (``-`` for standard input), at most ``limit`` of them.

    Raises E001 when the file cannot be read, E007 when it is not a regular file (a folder,
    a device, a FIFO: opening a FIFO would block), and E003 when it holds more than ``limit``
    bytes, counted while reading, since devices report no size.
    """
    if str(path) == "-":
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read(limit + 1) if stream is not None else sys.stdin.read(limit + 1).encode("utf-8")
        if len(data) > limit:
            raise UsageError("E003", what="standard input", size=f"more than {limit}", limit=limit)
        return data
    p = Path(path)
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError("E007", path=str(p), kind=_file_kind(info.st_mode))
        if info.st_size > limit:
            raise UsageError("E003", what=str(p), size=info.st_size, limit=limit)
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise UsageError("E001", path=str(p), reason=exc.strerror or str(exc)) from exc
    if len(data) > limit:  # grew while being read
        raise UsageError("E003", what=str(p), size=f"more than {limit}", limit=limit)
    return data


def read_text(path: str | os.PathLike, what: str = "input", *, limit: int = MAX_INPUT_BYTES) -> str:
    """A UTF-8 text file (``-`` for standard input) as :func:`read_bytes` reads it; E004 when
    it is not UTF-8."""
    data = read_bytes(path, what, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError("E004", path=str(path), reason=f"byte {exc.start} is not UTF-8") from exc


def loads_json(text: str | bytes) -> Any:
    """``json.loads``, with input nested too deep for the decoder, or a number of more digits
    than Python reads (:data:`MAX_NUMBER_DIGITS`), as a ``ValueError`` that says so
    (``json.JSONDecodeError``, also a ``ValueError``, for text that is not JSON).

    >>> loads_json("[" * 100_000)
    Traceback (most recent call last):
    ...
    ValueError: nested too deep (arrays or objects inside one another, thousands of levels)
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deep (arrays or objects inside one another, thousands of levels)") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # int() refuses a number of more than MAX_NUMBER_DIGITS digits
        raise ValueError(f"a number has more than {MAX_NUMBER_DIGITS} digits") from exc


def read_image(path: str | os.PathLike):
    """A PIL image opened from a regular file, its size checked against
    :data:`MAX_IMAGE_PIXELS` from the header, before any pixel is decoded.

    A small file can decode to a huge image (a "decompression bomb"): E507 (exit 2) refuses it.
    E007 for a path that is not a regular file, E502 for one that is not a readable image.
    The image is loaded (the file closed) before it is returned.
    """
    from PIL import Image

    # PIL warns above this and raises above twice it; the explicit check below comes first
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        raise UsageError("E502", path=str(p), reason="no such file") from None
    except OSError as exc:
        raise UsageError("E502", path=str(p), reason=exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError("E007", path=str(p), kind=_file_kind(info.st_mode))
    try:
        # the header alone is read here; with PIL's guard off for it, the error can name the size
        Image.MAX_IMAGE_PIXELS = None
        opened = Image.open(p)
    except (OSError, ValueError, SyntaxError) as exc:
        raise UsageError("E502", path=str(p), reason=str(exc) or type(exc).__name__) from None
    finally:
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    with opened:
        width, height = opened.size
        if width * height > MAX_IMAGE_PIXELS:
            raise UsageError("E507", path=str(p), width=width, height=height, limit=MAX_IMAGE_PIXELS)
        try:
            opened.load()
        except Image.DecompressionBombError:
            raise UsageError("E507", path=str(p), width=width, height=height, limit=MAX_IMAGE_PIXELS) from None
        except (OSError, ValueError, SyntaxError, MemoryError) as exc:
            raise UsageError("E502", path=str(p), reason=str(exc) or type(exc).__name__) from None
        return opened


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _temporary_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _replace(tmp: Path, target: Path) -> None:
    # a symlink at the target is replaced, never written through
    os.replace(tmp, target)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` by temporary file, fsync and rename; E008 (exit 2) when it
    cannot be written (its folder is a file, no permission, the disk is full)."""
    p = Path(path)
    tmp = _temporary_beside(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_dir() and not p.is_symlink():
            raise IsADirectoryError(21, "Is a directory")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, p)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise UsageError("E008", path=str(p), reason=exc.strerror or str(exc)) from exc
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_png_atomic(image, path: str | os.PathLike) -> None:
    """Save a PIL image as PNG atomically."""
    import io as _io

    buffer = _io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def write_rows_atomic(path: str | os.PathLike, rows: Iterable[Row]) -> None:
    """Write a whole JSONL file atomically."""
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_tree_atomic(folder: str | os.PathLike, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) as the whole content of ``folder``: into a
    temporary folder beside it (each file fsynced), then renamed into place, replacing an older
    folder of the same name. A reader sees the old folder, or the new one complete."""
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    for name, data in files.items():
        path = tmp / name
        if path.resolve().parent != (tmp / Path(name).parent).resolve() or ".." in Path(name).parts:
            raise ValueError(f"file name {name!r} leaves its item folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    tmp.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old)
    else:
        os.replace(tmp, target)


def remove_partial_folders(folder: str | os.PathLike) -> int:
    """Delete what a killed run left half written in ``folder`` (``.tmp-*``/``.old-*``
    folders); returns how many."""
    root = Path(folder)
    if not root.is_dir():
        return 0
    leftovers = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                 and p.name.startswith((".tmp-", ".old-"))]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return len(leftovers)


def read_rows(path: str | os.PathLike, *, repair: bool = False) -> list[Row]:
    """The rows of a JSONL file; a torn last line (no newline, or not JSON) is ignored, and
    cut off the file when ``repair`` is true. A damaged line elsewhere is skipped.

    A symlink is refused for ``repair`` (E007): cutting it would change the file it points to.
    """
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return []
    if repair and p.is_symlink():
        raise UsageError("E007", path=str(p), kind="a symlink")
    data = p.read_bytes()
    rows: list[Row] = []
    good_end = 0
    offset = 0
    for line in data.splitlines(keepends=True):
        offset += len(line)
        if not line.endswith(b"\n"):
            break  # torn by a kill mid-write
        text = line.strip()
        if text:
            try:
                rows.append(json.loads(text))
            except (json.JSONDecodeError, RecursionError):
                continue
        good_end = offset
    if repair and good_end < len(data):
        with open(p, "r+b") as fh:
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return rows


class RowWriter:
    """Appends JSON rows to a file, each flushed and fsynced before the next one starts.

    The file is opened without following a symlink (``O_NOFOLLOW``): rows are never written
    through a link into another file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if self.path.is_symlink():
                raise UsageError("E007", path=str(self.path), kind="a symlink") from exc
            raise UsageError("E001", path=str(self.path), reason=exc.strerror or str(exc)) from exc
        self._fh = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, row: Row) -> None:
        # one write call per row: a kill leaves at most one torn line, at the end
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FolderLock:
    """One run at a time per output folder: an exclusive ``flock`` on ``<folder>/.lock``.

    The lock file holds the pid of the run that holds it. A second run is refused with E606
    naming that pid. The kernel lets go of a ``flock`` when its process ends in any way (even
    SIGKILL), so a lock left by a killed run is taken over by the next run, safely: there is no
    pid to guess about, and no window in which two runs both think the folder is theirs.
    The file is opened without following a symlink.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / ".lock"
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if self.path.is_symlink():
                raise UsageError("E007", path=str(self.path), kind="a symlink") from exc
            raise UsageError("E008", path=str(self.path), reason=exc.strerror or str(exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UsageError("E606", path=str(self.folder), pid=holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
