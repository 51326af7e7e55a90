"""Reading IDX files (the MNIST / Fashion-MNIST format), plain or gzipped, with numpy."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

# The third byte of the magic number names the element type; data are big-endian.
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxError(ValueError):
    """An IDX file that is truncated, corrupt or not an IDX file at all."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (optionally gzipped) into a numpy array, validating its header.

    The format: two zero bytes, a type code (0x08 for uint8, ...), the number of
    dimensions, then each dimension as a big-endian uint32, then the data.

    Args:
        path: the file; a ``.gz`` file (detected by its content, not its name) is
            decompressed.

    Returns:
        The array, in native byte order.

    Raises:
        IdxError: a bad magic number, an unknown type code, or a size that does not
            match the header (a truncated or padded file).
        FileNotFoundError: the file does not exist.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
        >>> read_idx(path)
        array([7, 2, 1], dtype=uint8)
        >>> _ = path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 4, 7, 2, 1]))
        >>> read_idx(path)
        Traceback (most recent call last):
        ...
        tricks.data._idx.IdxError: ...: the header promises 4 bytes of data (shape (4,), uint8), the file holds 3: ...
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise IdxError(f"{path}: not a valid gzip file ({exc}): truncated or corrupt") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxError(f"{path}: not an IDX file (the magic number must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise IdxError(
            f"{path}: unknown IDX type code 0x{code:02x}; valid: " + ", ".join(f"0x{c:02x}" for c in _DTYPES)
        )
    if ndim == 0:
        raise IdxError(f"{path}: an IDX file needs at least one dimension")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{path}: the header is cut short ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IdxError(
            f"{path}: the header promises {expected} bytes of data (shape {shape}, {dtype.name}), "
            f"the file holds {len(raw) - header}: truncated or corrupt"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))
