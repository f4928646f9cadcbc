#!/usr/bin/env python3
"""Reads, checks and writes npucc bundles (.npub), independently of the Swift code, from
schemas/bundle.md and schemas/weights.md alone. Needs numpy (and ml_dtypes to decode weights).

    python tools/npub.py model.npub                    # check every checksum, list sections, print metadata
    python tools/npub.py model.npub --weights w.npz    # and decode every layer's weights to float32

As a module:

    import npub
    sections = npub.read_bundle("model.npub")   # {"META": uint8 array, "WGHT": ..., ...}
    bundle = npub.verify("model.npub")          # everything: header fields, table, metadata
    npub.write_bundle("x.npub", {"model": "m"}, {"WGHT": b"..."})
    weights = npub.decode_weights("model.npub")  # {layer name: float32 array in its ONNX layout}
"""
import json
import os
import struct
import sys
import tempfile
import zlib
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"NPUB"
MAJOR, MINOR = 2, 0
# Version 1 is version 2 without section encodings (the byte is reserved, zero).
READABLE_MAJORS = (1, 2)
HEADER_SIZE, ENTRY_SIZE = 64, 32
ALIGNMENT, MAX_ALIGNMENT = 64, 1 << 20
KNOWN = ("META", "DESC", "INST", "SCAL", "CNST", "WGHT")
# magic, major, minor, header size, count, flags, entry size, file size, table CRC
HEADER = struct.Struct("<4sHHIIIIQI")
# kind, alignment, offset, size, CRC32, encoding, reserved
ENTRY = struct.Struct("<4sIQQIB3s")
# Section encodings: the bytes as they are, or their decoded length (u64) and a zlib stream.
ENCODINGS = {0: "stored", 1: "zlib"}
ZLIB_LEVEL = 1
# Deflate expands nothing by more than 1,032 to 1.
ZLIB_LARGEST_RATIO = 1032


class BundleError(Exception):
    """A bundle that fails a check; `part` is "header", "section table", "section KIND" or
    "file", and the message names the file and the part."""

    def __init__(self, file, part, message):
        self.file, self.part = file, part
        super().__init__(f"{file}: {message}")


@dataclass
class Entry:
    kind: str
    alignment: int
    offset: int
    size: int
    crc32: int
    encoding: str = "stored"
    decoded_size: int = 0

    @property
    def end(self):
        return self.offset + self.size


@dataclass
class Bundle:
    file: str
    version: tuple
    flags: int
    file_size: int
    header_crc: int
    table_crc: int
    entries: list = field(default_factory=list)
    sections: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    @property
    def unknown_kinds(self):
        return [e.kind for e in self.entries if e.kind not in KNOWN]


def _valid_kind(tag):
    return len(tag) == 4 and all(0x41 <= c <= 0x5A or 0x30 <= c <= 0x39 for c in tag)


def _valid_alignment(a):
    return ALIGNMENT <= a <= MAX_ALIGNMENT and a & (a - 1) == 0


def _aligned(offset, alignment):
    return (offset + alignment - 1) // alignment * alignment


def parse(data, file="bundle"):
    """Checks `data` (bytes) as a bundle, in the order schemas/bundle.md gives; returns a
    Bundle whose sections are read-only uint8 arrays over `data`. Raises BundleError."""
    data = bytes(data)
    n = len(data)

    def fail(part, what):
        return BundleError(file, part, f"{part}: {what}")

    def truncated(part, end):
        return BundleError(file, part, f"truncated: {part} ends at byte {end}, file has {n}")

    def mismatch(part, stored, computed):
        return fail(part, f"checksum mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")

    if n >= 4 and data[:4] != MAGIC:
        shown = "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in data[:4])
        raise fail("header", f'not a bundle: magic is "{shown}", expected "NPUB"')
    if n < HEADER_SIZE:
        raise truncated("header", HEADER_SIZE)
    (_, major, minor, header_size, count, flags, entry_size, file_size, table_crc) = HEADER.unpack_from(data, 0)
    (header_crc,) = struct.unpack_from("<I", data, 60)
    if zlib.crc32(data[:60]) != header_crc:
        raise mismatch("header", header_crc, zlib.crc32(data[:60]))
    if major not in READABLE_MAJORS:
        known = " and ".join(f"{m}.x" for m in READABLE_MAJORS)
        raise fail("header", f"format version {major}.{minor}; this reader reads versions {known}")
    if header_size != HEADER_SIZE:
        raise fail("header", f"header size {header_size}, expected {HEADER_SIZE}")
    if entry_size != ENTRY_SIZE:
        raise fail("header", f"section table entry size {entry_size}, expected {ENTRY_SIZE}")
    if flags:
        raise fail("header", f"unknown flags 0x{flags:08x}; version 1 defines none")
    if any(data[36:60]):
        raise fail("header", "reserved bytes 36 to 59 are not zero")

    table_end = HEADER_SIZE + count * ENTRY_SIZE
    if table_end > n:
        raise truncated("section table", table_end)
    if zlib.crc32(data[HEADER_SIZE:table_end]) != table_crc:
        raise mismatch("section table", table_crc, zlib.crc32(data[HEADER_SIZE:table_end]))
    if count == 0:
        raise fail("section table", "no sections; a bundle starts with a META section")

    bundle = Bundle(file, (major, minor), flags, file_size, header_crc, table_crc)
    view = np.frombuffer(data, dtype=np.uint8)
    end, last_known = table_end, None
    for i in range(count):
        tag, alignment, offset, size, crc, encoding, reserved = ENTRY.unpack_from(data, HEADER_SIZE + i * ENTRY_SIZE)
        if not _valid_kind(tag):
            raise fail("section table", f"entry {i}: kind {tag.hex()} is not four upper-case ASCII letters or digits")
        kind = tag.decode("ascii")
        part = f"section {kind}"
        if any(reserved) or major < 2 and encoding:
            raise fail(part, "reserved table bytes are not zero")
        if encoding not in ENCODINGS:
            known = ", ".join(f"{k} {v}" for k, v in ENCODINGS.items())
            raise fail(part, f"encoding {encoding} is not one this version knows ({known})")
        previous = next((e for e in bundle.entries if e.kind == kind), None)
        if previous:
            raise fail(part, f"appears twice in the section table (at offsets {previous.offset} and {offset})")
        if i == 0 and kind != "META":
            raise fail(part, "comes first; a bundle starts with a META section")
        if kind in KNOWN:
            if last_known and KNOWN.index(last_known) > KNOWN.index(kind):
                raise fail(part, f"comes after {last_known}; known kinds appear in the order {', '.join(KNOWN)}")
            last_known = kind
        if not _valid_alignment(alignment):
            raise fail(part, f"alignment {alignment} is not a power of two from 64 to 1 MiB")
        if offset + size >= 1 << 63:
            raise fail(part, f"offset {offset} plus size {size} overflows")
        if offset % alignment:
            raise fail(part, f"offset {offset} is not a multiple of its alignment {alignment}")
        if offset < end:
            inside = f"section {bundle.entries[-1].kind}" if bundle.entries else "the section table"
            raise fail(part, f"starts at byte {offset}, inside {inside}, which ends at byte {end}")
        expected = _aligned(end, alignment)
        if offset != expected:
            raise fail(part, f"starts at byte {offset}; expected {expected}, "
                             f"the first {alignment}-aligned byte after byte {end}")
        if offset + size > n:
            raise truncated(part, offset + size)
        nonzero = np.flatnonzero(view[end:offset])
        if nonzero.size:
            raise fail(part, f"padding before it is not zero (byte {end + int(nonzero[0])})")
        computed = zlib.crc32(data[offset:offset + size])
        if computed != crc:
            raise mismatch(part, crc, computed)
        if ENCODINGS[encoding] == "zlib":
            decoded = _inflate(data[offset:offset + size], lambda what: fail(part, what))
            bundle.sections[kind] = np.frombuffer(decoded, dtype=np.uint8)
        else:
            bundle.sections[kind] = view[offset:offset + size]
        bundle.entries.append(Entry(kind, alignment, offset, size, crc, ENCODINGS[encoding], bundle.sections[kind].size))
        end = offset + size

    if file_size != end:
        raise fail("header", f"file size {file_size} does not match the end of the last section, byte {end}")
    if n != end:
        raise BundleError(file, "file", f"{n - end} bytes after the end of the bundle at byte {end}")
    try:
        bundle.metadata = json.loads(bundle.sections["META"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise fail("section META", "not UTF-8 JSON") from None
    if not isinstance(bundle.metadata, dict):
        raise fail("section META", "not a JSON object")
    return bundle


def _inflate(stored, fail):
    """A zlib section's decoded bytes: its declared length, then exactly one stream of that
    many bytes; `fail(what)` makes the error."""
    if len(stored) < 8:
        raise fail(f"zlib section of {len(stored)} bytes, shorter than its 8-byte length")
    (declared,) = struct.unpack_from("<Q", stored, 0)
    stream = len(stored) - 8
    if declared > ZLIB_LARGEST_RATIO * max(stream, 1):
        raise fail(f"declares {declared} decoded bytes, more than zlib can make of {stream}")
    # Nothing inflates to more than 1,032 times its stream: decoding it whole is bounded by
    # the file's own size.
    inflater = zlib.decompressobj()
    try:
        decoded = inflater.decompress(stored[8:])
    except zlib.error as e:
        raise fail(f"its zlib stream is damaged or cut short ({e})") from None
    if len(decoded) > declared + 1:
        raise fail(f"decodes to more than the {declared} bytes it declares")
    if not inflater.eof:
        raise fail("its zlib stream is damaged or cut short (it does not end)")
    if inflater.unused_data:
        raise fail(f"{len(inflater.unused_data)} bytes follow the end of its zlib stream")
    if len(decoded) != declared:
        raise fail(f"decodes to {len(decoded)} bytes; it declares {declared}")
    return decoded


def verify(path):
    """Reads the bundle at `path` and checks all of it; returns the Bundle or raises
    BundleError naming the part at fault."""
    with open(path, "rb") as f:
        return parse(f.read(), file=str(path))


def read_bundle(path):
    """The checked sections of the bundle at `path`: {kind: read-only uint8 array}."""
    return verify(path).sections


def canonical_json(value):
    """The metadata's canonical UTF-8 spelling (schemas/bundle.md, "Metadata")."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _order(kind):
    return (0, KNOWN.index(kind), b"") if kind in KNOWN else (1, 0, kind.encode("ascii"))


def encode(metadata, sections, alignments=None, encodings=None):
    """The bytes of a bundle holding `metadata` (a dict) and `sections` ({kind: bytes-like},
    without META), laid out as the Swift writer lays them out; `encodings` ({kind: "zlib"})
    deflates those sections as it does."""
    if not isinstance(metadata, dict):
        raise ValueError("the metadata must be a JSON object")
    if "META" in sections:
        raise ValueError("META is written from the metadata")
    alignments, encodings = alignments or {}, encodings or {}
    ordered = [("META", canonical_json(metadata))] + sorted(
        ((k, bytes(v)) for k, v in sections.items()), key=lambda kv: _order(kv[0]))
    for kind, _ in ordered:
        if not _valid_kind(kind.encode("ascii")) or not _valid_alignment(alignments.get(kind, ALIGNMENT)):
            raise ValueError(f"section {kind}: bad kind or alignment")
    table_end = HEADER_SIZE + len(ordered) * ENTRY_SIZE
    out = bytearray(table_end)
    codes = {name: code for code, name in ENCODINGS.items()}
    for i, (kind, body) in enumerate(ordered):
        encoding = codes[encodings.get(kind, "stored")]
        if encoding:
            body = struct.pack("<Q", len(body)) + zlib.compress(body, ZLIB_LEVEL)
        alignment = alignments.get(kind, ALIGNMENT)
        offset = _aligned(len(out), alignment)
        out += bytes(offset - len(out)) + body
        ENTRY.pack_into(out, HEADER_SIZE + i * ENTRY_SIZE, kind.encode("ascii"), alignment, offset, len(body),
                        zlib.crc32(body), encoding, bytes(3))
    HEADER.pack_into(out, 0, MAGIC, MAJOR, MINOR, HEADER_SIZE, len(ordered), 0, ENTRY_SIZE, len(out),
                     zlib.crc32(out[HEADER_SIZE:table_end]))
    struct.pack_into("<I", out, 60, zlib.crc32(out[:60]))
    return bytes(out)


def write_bundle(path, metadata, sections, alignments=None, encodings=None):
    """Writes `encode(...)` to `path` atomically (a temporary in the same folder, fsync,
    rename); the temporary is removed on failure."""
    data = encode(metadata, sections, alignments, encodings)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def report(bundle):
    """A listing like `npucc inspect`'s: header, sections, metadata."""
    lines = [f"bundle:   {bundle.file}",
             f"format:   version {bundle.version[0]}.{bundle.version[1]}, flags 0x{bundle.flags:08x}, "
             f"{bundle.file_size} bytes, {len(bundle.entries)} sections",
             f"header:   crc32 0x{bundle.header_crc:08x} ok; section table crc32 0x{bundle.table_crc:08x} ok",
             "sections:"]
    for e in bundle.entries:
        note = "ok" if e.kind in KNOWN else "ok (unknown kind, kept)"
        stored = "" if e.encoding == "stored" else f"{e.encoding}, {e.decoded_size} decoded  "
        lines.append(f"  {e.kind}  offset {e.offset:>10}  size {e.size:>10}  align {e.alignment:>7}  "
                     f"crc32 0x{e.crc32:08x}  {stored}{note}")
    lines.append("metadata:")
    lines += ["  " + line for line in json.dumps(bundle.metadata, indent=2, sort_keys=True, ensure_ascii=False).splitlines()]
    return "\n".join(lines)


# --- Packed weights (schemas/weights.md) -------------------------------------------------

def _codes(data, pos, count, bits):
    """`count` codes of `bits` bits from data[pos:], a run ending on a whole byte."""
    if bits == 16:
        n = 2 * count
        return np.frombuffer(data[pos:pos + n], "<u2").astype(np.uint16), pos + n
    if bits == 8:
        return np.frombuffer(data[pos:pos + count], np.uint8).astype(np.uint16), pos + count
    n = (count + 1) // 2
    raw = np.frombuffer(data[pos:pos + n], np.uint8)
    both = np.stack([raw & 0xF, raw >> 4], axis=1).reshape(-1)[:count]
    return both.astype(np.uint16), pos + n


def decode_weights(path):
    """Every layer's weights from a checked bundle: {layer name: float32 array}."""
    bundle = verify(path)
    weights = bundle.sections.get("WGHT", np.zeros(0, np.uint8))
    return {layer["name"]: decode_layer(weights, layer) for layer in bundle.metadata.get("layers", [])}


def decode_layer(weights, layer):
    """One layer's float32 weights in its ONNX layout, from the weight section's bytes and
    the layer's metadata entry."""
    rows, cols = layer["rows"], layer["columns"]
    fmt, sparse = layer["format"], layer["sparse"]
    tile_rows, tile_cols = layer["tile_rows"], layer["tile_columns"]
    data = bytes(weights[layer["offset"]:layer["offset"] + layer["size"]])
    bits = {"fp16": 16, "fp8": 8, "nvfp4": 4}[fmt]
    codes = np.zeros((rows, cols), np.uint16)
    present = np.full((rows, cols), not sparse)
    bpr = (cols + 15) // 16
    block_scales = np.zeros((rows, bpr), np.uint8)
    pos = 0
    for r0 in range(0, rows, tile_rows):
        tile = range(r0, min(rows, r0 + tile_rows))
        for c0 in range(0, cols, tile_cols):
            length = min(tile_cols, cols - c0)
            stored = length // 2 if sparse else length
            row_codes = []
            for _ in tile:
                c, pos = _codes(data, pos, stored, bits)
                row_codes.append(c)
            if fmt == "nvfp4":
                nb = (length + 15) // 16
                for r in tile:
                    block_scales[r, c0 // 16:c0 // 16 + nb] = np.frombuffer(data[pos:pos + nb], np.uint8)
                    pos += nb
            for r, c in zip(tile, row_codes):
                if sparse:
                    index, pos = _codes(data, pos, length // 4, 4)
                    for j, entry in enumerate(index):
                        g = c0 + 4 * j
                        p0, p1 = g + int(entry & 3), g + int(entry >> 2)
                        if not p0 < p1:
                            raise ValueError(f"{layer['name']}: row {r}, group at {g}: indices not ascending")
                        codes[r, p0], codes[r, p1] = c[2 * j], c[2 * j + 1]
                        present[r, p0] = present[r, p1] = True
                else:
                    codes[r, c0:c0 + length] = c
    scale_count = rows if fmt == "fp8" else (1 if fmt == "nvfp4" else 0)
    scales = np.frombuffer(data[pos:pos + 4 * scale_count], "<f4")
    pos += 4 * scale_count
    if pos != len(data):
        raise ValueError(f"{layer['name']}: {len(data)} bytes, the layout reads {pos}")
    if fmt == "fp16":
        values = codes.view(np.float16).astype(np.float32)
    elif fmt == "fp8":
        import ml_dtypes
        values = codes.astype(np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float32) * scales[:, None]
    else:
        import ml_dtypes
        block = block_scales.view(ml_dtypes.float8_e4m3fn).astype(np.float32) * scales[0]
        scale = np.repeat(block, 16, axis=1)[:, :cols]
        values = codes.astype(np.uint8).view(ml_dtypes.float4_e2m1fn).astype(np.float32) * scale
    values = np.where(present, values, np.float32(0)).astype(np.float32)
    shape = layer["weight_shape"]
    if layer["op"] == "ConvTranspose":
        return _transposed_convolution_weight(values, shape)
    return np.ascontiguousarray(values.T if layer["transposed"] else values).reshape(shape)


def _transposed_convolution_weight(values, shape):
    """ConvTranspose's [C, M/G, k...] from the packed matrix of the convolution it equals:
    row g*M/G + m, column c*K + k holds [g*C/G + c, m, K-1-k] (every kernel axis reversed)."""
    c, mg = shape[0], shape[1]
    kernel = int(np.prod(shape[2:]))
    groups = values.shape[0] // mg
    cg = c // groups
    w = values.reshape(groups, mg, cg, kernel)[:, :, :, ::-1]
    return np.ascontiguousarray(w.transpose(0, 2, 1, 3)).reshape(shape)


def main(argv):
    args = list(argv)
    out = None
    if "--weights" in args:
        i = args.index("--weights")
        if i + 1 >= len(args):
            print("usage: npub.py FILE.npub [--weights OUT.npz]", file=sys.stderr)
            return 2
        out = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: npub.py FILE.npub [--weights OUT.npz]", file=sys.stderr)
        return 2
    try:
        print(report(verify(args[0])))
        if out is not None:
            np.savez(out, **decode_weights(args[0]))
    except (OSError, ValueError, BundleError) as e:
        print(f"npub.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
