"""The IDX file format (LeCun's MNIST files): read and write, checked.

All multi-byte values big-endian::

    00 00 | type code | ndim | ndim x uint32 sizes | the values, row-major
    type codes: 08 uint8, 09 int8, 0B int16, 0C int32, 0D float32, 0E float64

Host-only: bytes from disk become numpy arrays before any device sees them, so
this module imports numpy directly.
"""
import gzip
import os
import struct
import tempfile
import zlib

import numpy as np

from npgan import backend  # write_idx accepts a device array and copies it to the host

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> big-endian dtype of the values in the file."""

_IDX_CODES = {d.newbyteorder("="): code for code, d in IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """A data file is missing or malformed; the message names the file and what is wrong."""


def _read_bytes(path):
    """The whole content of ``path``, gunzipped when it starts with the gzip magic 1f 8b."""
    path = os.fspath(path)
    if not os.path.exists(path):
        folder = os.path.dirname(os.path.abspath(path))
        raise DataError(f"{path}: no such file (looked in folder {folder})")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a folder, expected a data file")
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != _GZIP_MAGIC:
            return f.read()
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as g:
                return g.read()
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: corrupt gzip stream ({type(exc).__name__}: {exc}); "
                f"download the file again") from exc


def _shape_text(shape):
    return "x".join(str(s) for s in shape)


def read_idx(path):
    """Read one IDX file (gzipped or not, detected by content) as a host numpy array.

    The array has the shape of the header and the file's dtype in native byte
    order (uint8, int8, int16, int32, float32 or float64). Raises
    :class:`DataError` naming the file for a missing file, a bad magic, an
    unknown type code, 0 dimensions, a truncated header or data, trailing
    bytes, or a corrupt gzip stream.
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) >= 2 and raw[:2] != b"\x00\x00":
        raise DataError(
            f"{path}: not an IDX file: the first two bytes are {raw[:2].hex(' ')}, "
            f"an IDX file starts with 00 00")
    if len(raw) < 4:
        raise DataError(
            f"{path}: truncated header: the file holds {len(raw)} bytes, "
            f"an IDX header needs at least 4")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {d.newbyteorder('=').name}" for c, d in IDX_TYPES.items())
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{path}: the IDX header says 0 dimensions; at least 1 is needed")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path}: truncated header: {ndim} dimensions need {header} header bytes "
            f"but the file holds {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_TYPES[code]
    count = 1
    for s in shape:
        count *= s
    expected = count * dtype.itemsize
    got = len(raw) - header
    what = f"{_shape_text(shape)} {dtype.newbyteorder('=').name} values ({expected} bytes of data)"
    if got < expected:
        raise DataError(
            f"{path}: truncated: header says {what} but the file holds {got} bytes "
            f"after the header")
    if got > expected:
        raise DataError(
            f"{path}: {got - expected} trailing bytes: header says {what} but the file "
            f"holds {got} bytes after the header")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file at ``path``, atomically; returns the path.

    The inverse of :func:`read_idx`. Gzipped when ``compress`` is True, or when
    it is None and the path ends with ".gz". The file is written to a
    temporary name in the same folder and then renamed over ``path``, so a
    reader never sees half a file. Supported dtypes: uint8, int8, int16,
    int32, float32, float64 (a cupy array is copied to the host first).
    """
    path = os.fspath(path)
    if backend.is_array(array):
        array = backend.to_numpy(array)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        names = ", ".join(d.newbyteorder("=").name for d in IDX_TYPES.values())
        raise ValueError(
            f"write_idx: IDX cannot hold dtype {array.dtype}; convert to one of {names}")
    if array.ndim == 0:
        raise ValueError("write_idx: IDX needs at least 1 dimension; pass array.reshape(1)")
    if array.ndim > 255 or any(s > 0xFFFFFFFF for s in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} does not fit an IDX header")
    code = _IDX_CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    folder = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            if compress:
                inner = os.path.basename(path)
                inner = inner[:-3] if inner.endswith(".gz") else inner
                with gzip.GzipFile(filename=inner, mode="wb", fileobj=f, mtime=0) as g:
                    g.write(header)
                    g.write(body)
            else:
                f.write(header)
                f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _idx_magic(array):
    """The 4-byte IDX magic of ``array`` as an int (0x00000803 for uint8 with 3 dims)."""
    code = _IDX_CODES.get(array.dtype.newbyteorder("="), 0)
    return (code << 8) | array.ndim
