"""PostgreSQL's binary COPY format, built with numpy from the demo's columns.

A row is its number of fields, then each field as its size (4 bytes, -1 for NULL) and its bytes;
numbers are big-endian. Parsing it costs PostgreSQL less than text, and building it with numpy
costs less than formatting text in Python.
"""

import struct

import numpy as np

from gis.demo.data import TEXT, ZERO_IS_NULL, Columns

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)

_PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
_NUMERIC_LIMIT = 1e12  # numeric(14, 2) holds 12 digits before the point
_UTF8_LEAD = np.array([0, 0, 0xC0, 0xE0, 0xF0], dtype=np.uint8)  # by a character's size in bytes
_HEX = np.zeros(256, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789ABCDEFabcdef", dtype=np.uint8)] = [*range(16), *range(10, 16)]

# A column as numpy builds its fields: a value per row (a number, or a row of bytes padded to
# the longest); each value's size, -1 for NULL (None: the width of the values); and which of
# the bytes are the value's own (None: all of them).
Field = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


def rows(columns: Columns) -> np.ndarray:
    """The columns as binary COPY rows, fields in the columns' order, as one array of bytes.

    NULLs, text and geometry are as in ``DemoData``; floats are amounts to the cent. The rows
    are first laid out as one record array, each field as wide as its widest value; one pass
    then keeps only the bytes that are the values' own.
    """
    fields = [_field(name, values) for name, values in columns.items()]
    layout = [("count", ">i2")]
    for i, (values, _, _) in enumerate(fields):
        layout += [
            (f"size{i}", ">i4"),
            (f"value{i}", values.dtype.newbyteorder(">"), values.shape[1:]),
        ]
    out = np.empty(len(next(iter(columns.values()))), dtype=np.dtype(layout))
    keep = np.ones((len(out), out.dtype.itemsize), dtype=bool)
    out["count"] = len(fields)
    for i, (values, size, own) in enumerate(fields):
        dtype, start = out.dtype.fields[f"value{i}"][:2]
        out[f"size{i}"] = dtype.itemsize if size is None else size
        out[f"value{i}"] = values
        if own is not None:
            keep[:, start : start + dtype.itemsize] = own
    return out.view(np.uint8).reshape(keep.shape)[keep]


def event_rows(events: Columns, mask: np.ndarray, stage: bytes) -> np.ndarray:
    """The events of ``mask``, all at ``stage``, as binary COPY rows: of one length each, so one
    record array."""
    fields = [
        ("id", "V16"),
        ("asset_id", ">i8"),
        ("stage", f"S{len(stage)}"),
        ("percent", ">i2"),
        ("observed_at", ">i8"),
        ("received_at", ">i8"),
    ]
    layout = [("count", ">i2")]
    for name, kind in fields:
        layout += [(name + "_size", ">i4"), (name, kind)]
    out = np.empty(int(mask.sum()), dtype=np.dtype(layout))
    out["count"] = len(fields)
    for name, kind in fields:
        out[name + "_size"] = np.dtype(kind).itemsize
    out["id"] = events["id"][mask].view("V16").ravel()
    out["asset_id"] = events["asset_id"][mask]
    out["stage"] = stage
    out["percent"] = events["percent"][mask]
    for name in ("observed_at", "received_at"):
        out[name] = (events[name][mask] - _PG_EPOCH).view(np.int64)
    return out


def _field(name: str, values: np.ndarray) -> Field:
    """A column as binary COPY fields, NULL where ``DemoData`` has '', 0 or NaT for it (and
    where an amount is masked or a value already in binary form is None)."""
    if values.dtype == object:
        return _bytes(values)
    if name == "geom":
        return _ewkb(values)
    if values.dtype == TEXT:
        text, own = _utf8(values)
        size = own.sum(axis=1, dtype=np.int32)
        return text, np.where(size == 0, -1, size), own
    if isinstance(values, np.ma.MaskedArray):  # amounts, NULL where masked
        null = np.ma.getmaskarray(values)
        digits = _numeric(values.filled(0.0))
        width = digits.itemsize * digits.shape[1]
        own = np.broadcast_to(~null[:, None], (len(null), width))
        return digits, np.where(null, -1, width), own
    if values.dtype.kind == "f":
        return _numeric(values), None, None
    if values.dtype.kind == "M":
        return _nullable((values - _PG_EPOCH).view(np.int64), np.isnat(values))
    if name in ZERO_IS_NULL:
        return _nullable(values, values == 0)
    return values, None, None


def _nullable(values: np.ndarray, null: np.ndarray) -> Field:
    size = values.dtype.itemsize
    return values, np.where(null, -1, size), np.broadcast_to(~null[:, None], (len(values), size))


def _utf8(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text as UTF-8, a row of bytes per value padded to the longest, and which bytes are the
    text's; ASCII casts to bytes directly."""
    width = max(int(np.strings.str_len(text).max(initial=0)), 1)
    try:
        ascii_bytes = text.astype(f"S{width}").view(np.uint8).reshape(len(text), width)
    except UnicodeEncodeError:
        return _utf8_from_utf32(text, width)
    return ascii_bytes, ascii_bytes != 0


def _utf8_from_utf32(text: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``_utf8`` through UTF-32 (``U``), each character's bytes put together here: numpy's own
    UTF-8 encoder (``np.strings.encode``) calls Python once per value, several times slower."""
    code = text.astype(f"U{width}").view(np.uint32).reshape(len(text), width)
    size = np.ones_like(code)  # each character's size in UTF-8
    for limit in (0x80, 0x800, 0x10000):
        size += code >= limit
    utf8 = np.empty((*code.shape, int(size.max())), dtype=np.uint8)
    own = np.empty(utf8.shape, dtype=bool)
    utf8[..., 0] = _UTF8_LEAD[size] | code >> 6 * (size - 1)
    own[..., 0] = code != 0  # U pads with NUL, which text never holds
    for i in range(1, utf8.shape[2]):
        utf8[..., i] = 0x80 | code >> 6 * np.maximum(size - 1 - i, 0) & 0x3F
        own[..., i] = size > i
    return utf8.reshape(len(text), -1), own.reshape(len(text), -1)


def jsonb(text: np.ndarray) -> np.ndarray:
    """JSON text as jsonb's binary form: its format's version (1), then the text."""
    return np.strings.add(np.asarray("\x01", dtype=TEXT), np.asarray(text, dtype=TEXT))


def _bytes(values: np.ndarray) -> Field:
    """Values already in their binary form (``bytes``, e.g. WKB, which PostGIS's binary input
    reads), None for NULL."""
    sizes = np.fromiter(
        (-1 if v is None else len(v) for v in values), dtype=np.int32, count=len(values)
    )
    width = max(int(sizes.max(initial=0)), 1)
    padded = np.array([b"" if v is None else v for v in values], dtype=f"S{width}")
    own = np.arange(width) < sizes[:, None]
    return padded.view(np.uint8).reshape(len(values), width), sizes, own


def _ewkb(hex_ewkb: np.ndarray) -> Field:
    """Hex EWKB as its bytes, which PostGIS's binary input reads."""
    n, width = len(hex_ewkb), max(int(np.strings.str_len(hex_ewkb).max(initial=0)), 2)
    digits = hex_ewkb.astype(f"S{width}").view(np.uint8).reshape(n, width)
    nibbles = _HEX[digits]
    own = digits[:, 1::2] != 0
    return nibbles[:, 0::2] << 4 | nibbles[:, 1::2], own.sum(axis=1, dtype=np.int32), own


def _numeric(amounts: np.ndarray) -> np.ndarray:
    """Amounts to the cent as PostgreSQL's binary numeric: number of digits, weight of the first,
    sign, decimals, then the digits in base 10000; always four here, from 10000² down to the
    cents (PostgreSQL drops the zero ones, so it stores what the text form would give)."""
    if not (np.abs(amounts) < _NUMERIC_LIMIT).all():
        bad = amounts[~(np.abs(amounts) < _NUMERIC_LIMIT)][0]
        raise ValueError(f"numeric(14, 2) holds amounts below {_NUMERIC_LIMIT:.0e}, got {bad}")
    cents = np.rint(amounts * 100).astype(np.int64)
    magnitude = np.abs(cents)
    out = np.empty((len(cents), 8), dtype=np.int16)
    out[:, :4] = (4, 2, 0, 2)
    out[:, 2] = np.where(cents < 0, 0x4000, 0)
    out[:, 4] = magnitude // 10**10
    out[:, 5] = magnitude // 10**6 % 10**4
    out[:, 6] = magnitude // 100 % 10**4
    out[:, 7] = magnitude % 100 * 100
    return out
