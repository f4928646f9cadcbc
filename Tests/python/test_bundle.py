"""Bundles (.npub) between tools/npub.py and `npucc inspect`: a bundle the Python writer
makes is read and listed by npucc; every damaged copy is refused by both with the same one-line
error naming the header, the section table or the section, a deflated section's damaged
stream too; a version-1 bundle still reads; ONNX inspection is unchanged."""
import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from conftest import ROOT, run_npucc

sys.path.insert(0, str(ROOT / "tools"))
import npub  # noqa: E402

METADATA = {"model": "digits_cnn", "target": {"name": "npu-seed", "macs": 256}, "layers": ["conv1", "fc"],
            "scale": 1e-05, "version": 1}
SECTIONS = {"WGHT": np.arange(300, dtype=np.uint8).tobytes(), "INST": b"INSTRUCTIONS", "DESC": b"\x01\x02\x03",
            "SCAL": b"", "CNST": b"\xab" * 64}
# As npucc stores them: the program's two sections deflated.
ENCODINGS = {"DESC": "zlib", "INST": "zlib"}


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "model.npub"
    npub.write_bundle(path, METADATA, SECTIONS, encodings=ENCODINGS)
    return path


def test_python_writer_layout(bundle):
    data = bundle.read_bytes()
    assert data[:4] == b"NPUB" and int.from_bytes(data[24:32], "little") == len(data)
    assert zlib.crc32(data[:60]) == int.from_bytes(data[60:64], "little")
    b = npub.verify(bundle)
    assert [e.kind for e in b.entries] == ["META", "DESC", "INST", "SCAL", "CNST", "WGHT"]
    assert [e.encoding for e in b.entries] == ["stored", "zlib", "zlib", "stored", "stored", "stored"]
    assert all(e.offset % 64 == 0 for e in b.entries)
    # A deflated section: its decoded length, then the zlib stream of its bytes.
    inst = b.entries[2]
    assert data[inst.offset:inst.end] == len(SECTIONS["INST"]).to_bytes(8, "little") + zlib.compress(SECTIONS["INST"], 1)
    assert data[64 + 2 * 32 + 28] == 1 and data[64 + 5 * 32 + 28] == 0
    assert b.metadata == METADATA
    sections = npub.read_bundle(bundle)
    for kind, body in SECTIONS.items():
        assert sections[kind].dtype == np.uint8 and sections[kind].tobytes() == body
    assert sections["META"].tobytes() == npub.canonical_json(METADATA)
    assert not [p for p in bundle.parent.iterdir() if p.name.endswith(".partial")]


def test_inspect_lists_header_sections_and_metadata(bundle):
    r = run_npucc("inspect", bundle)
    assert r.returncode == 0, r.stderr
    b = npub.verify(bundle)
    lines = r.stdout.splitlines()
    assert lines[0] == f"bundle:     {bundle}"
    assert lines[1] == "format:     version 2.0, flags 0x00000000"
    assert lines[2] == f"size:       {len(bundle.read_bytes()):,} bytes, 6 sections"
    assert f"header 0x{b.header_crc:08x} ok, section table 0x{b.table_crc:08x} ok" in lines[3]
    rows = [line.split() for line in lines[lines.index("sections:") + 2:lines.index("metadata:   5 keys")]]
    assert rows == [[e.kind, str(e.offset), str(e.size), "64", f"0x{e.crc32:08x}"]
                    + (["as", "is"] if e.encoding == "stored" else [f"{e.encoding},", str(e.decoded_size), "decoded"])
                    + ["ok"] for e in b.entries]
    keys = [line.split()[0] for line in lines[lines.index("metadata:   5 keys") + 1:]]
    assert keys == sorted(METADATA)
    assert '  model    "digits_cnn"' in lines and "  target   {2 keys}" in lines and "  layers   [2 items]" in lines


def test_inspect_reports_unknown_kinds(tmp_path):
    path = tmp_path / "new.npub"
    npub.write_bundle(path, {"k": 1}, {"WGHT": b"w", "TILE": b"tt"})
    r = run_npucc("inspect", path)
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines() if line.endswith("ok (unknown kind, kept)")] == ["TILE"]


def expected_part(b, i):
    if i < 64:
        return "header"
    if i < 64 + 32 * len(b.entries):
        return "section table"
    return "section " + next(e.kind for e in b.entries if i < e.end)


def refused(path):
    """npucc's one error line for `path` (which must be refused), without its prefix."""
    r = run_npucc("inspect", path, timeout=10)
    assert r.returncode == 1, f"{path}: exit {r.returncode}: {r.stdout}{r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npucc: error: "), r.stderr
    assert r.stdout == ""
    return lines[0][len("npucc: error: "):]


def test_every_flipped_byte_is_refused_by_both_readers_alike(bundle, tmp_path):
    good = bundle.read_bytes()
    b = npub.verify(bundle)
    damaged = tmp_path / "damaged.npub"
    for i in range(4, len(good)):  # bytes 0-3 are the magic: without it the file is not taken for a bundle
        data = bytearray(good)
        data[i] ^= 0x20
        damaged.write_bytes(data)
        with pytest.raises(npub.BundleError) as caught:
            npub.verify(damaged)
        assert caught.value.part == expected_part(b, i), (i, str(caught.value))
        message = refused(damaged)
        assert message == str(caught.value), i
        assert message.startswith(f"{damaged}: {expected_part(b, i)}: "), (i, message)


def test_every_truncation_is_refused_by_both_readers_alike(bundle, tmp_path):
    good = bundle.read_bytes()
    b = npub.verify(bundle)
    cut = tmp_path / "cut.npub"
    edges = {64, 64 + 32 * len(b.entries)} | {e.offset for e in b.entries} | {e.end for e in b.entries}
    for length in range(4, len(good)):
        cut.write_bytes(good[:length])
        with pytest.raises(npub.BundleError) as caught:
            npub.verify(cut)
        # npucc on every 5th length and next to every boundary (the Swift tests try every length)
        if length % 5 and not {length - 1, length, length + 1} & edges:
            assert str(caught.value).startswith(f"{cut}: truncated: {expected_part(b, length)} ends at byte ")
            continue
        message = refused(cut)
        assert message == str(caught.value)
        assert message.startswith(f"{cut}: truncated: {expected_part(b, length)} ends at byte "), message
        assert message.endswith(f", file has {length}"), message


def with_inst_stored(path, stored, encoding=1):
    """A bundle whose INST entry holds `stored` under `encoding`, every checksum resealed, so
    that only the decoding can refuse it."""
    data = bytearray(npub.encode(METADATA, dict(SECTIONS, INST=stored), encodings={"DESC": "zlib"}))
    data[64 + 2 * 32 + 28] = encoding
    data[32:36] = zlib.crc32(data[64:64 + 6 * 32]).to_bytes(4, "little")
    data[60:64] = zlib.crc32(data[:60]).to_bytes(4, "little")
    path.write_bytes(data)
    return path


def declaring(length, stream):
    return length.to_bytes(8, "little") + stream


def test_a_damaged_deflated_section_is_refused_by_both_readers_alike(tmp_path):
    stream = zlib.compress(SECTIONS["INST"], 1)
    good = declaring(len(SECTIONS["INST"]), stream)
    assert npub.verify(with_inst_stored(tmp_path / "good.npub", good)).sections["INST"].tobytes() == SECTIONS["INST"]
    cases = {
        "encoding": (good, 7, "encoding 7 is not one this version knows (0 stored, 1 zlib)"),
        "short": (b"\x01\x02\x03\x04\x05", 1, "zlib section of 5 bytes, shorter than its 8-byte length"),
        "ratio": (declaring(10**6, stream), 1, f"declares 1000000 decoded bytes, more than zlib can make of {len(stream)}"),
        "longer": (declaring(11, stream), 1, "decodes to 12 bytes; it declares 11"),
        "nothing": (declaring(0, stream), 1, "decodes to more than the 0 bytes it declares"),
        "shorter": (declaring(13, stream), 1, "decodes to 12 bytes; it declares 13"),
        "trailing": (good + b"\0\0\0", 1, "3 bytes follow the end of its zlib stream"),
        "cut": (good[:-4], 1, "its zlib stream is damaged or cut short"),
        "adler": (good[:-2] + bytes([good[-2] ^ 0x40]) + good[-1:], 1, "its zlib stream is damaged or cut short"),
    }
    for name, (stored, encoding, phrase) in cases.items():
        path = with_inst_stored(tmp_path / f"{name}.npub", stored, encoding)
        with pytest.raises(npub.BundleError) as caught:
            npub.verify(path)
        message = refused(path)
        assert message.startswith(f"{path}: section INST: {phrase}"), (name, message)
        if name in ("cut", "adler"):
            # zlib's own words for the damage differ between Python and C; the rest is the same.
            assert message.split(" (")[0] == str(caught.value).split(" (")[0], name
        else:
            assert message == str(caught.value), name


def test_a_version_one_bundle_reads_and_reserves_the_encoding_byte(tmp_path):
    def version_one(data):
        data = bytearray(data)
        data[4:6] = (1).to_bytes(2, "little")
        data[60:64] = zlib.crc32(data[:60]).to_bytes(4, "little")
        return bytes(data)

    path = tmp_path / "v1.npub"
    path.write_bytes(version_one(npub.encode(METADATA, SECTIONS)))
    b = npub.verify(path)
    assert b.version == (1, 0) and {k: v.tobytes() for k, v in b.sections.items() if k != "META"} == SECTIONS
    r = run_npucc("inspect", path)
    assert r.returncode == 0 and "format:     version 1.0" in r.stdout, r.stderr
    # Version 1 reserves the encoding's byte: a deflated section is not one of its bundles.
    path.write_bytes(version_one(npub.encode(METADATA, SECTIONS, encodings={"INST": "zlib"})))
    with pytest.raises(npub.BundleError, match="section INST: reserved table bytes are not zero"):
        npub.verify(path)
    assert refused(path) == f"{path}: section INST: reserved table bytes are not zero"


def test_checksum_message_names_both_values(bundle):
    data = bytearray(bundle.read_bytes())
    data[-1] ^= 0xFF
    bundle.write_bytes(data)
    stored = npub.ENTRY.unpack_from(data, 64 + 5 * 32)[4]
    assert refused(bundle) == (f"{bundle}: section WGHT: checksum mismatch "
                               f"(stored 0x{stored:08x}, computed 0x{zlib.crc32(bytes(data[-300:])):08x})")


@pytest.mark.parametrize("command", ["inspect", "disasm", "profile", "run"])
def test_a_missing_bundle_is_named_with_the_reason(tmp_path, command):
    missing = tmp_path / "missing.npub"
    extra = ["--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz"] if command == "run" else []
    r = run_npucc(command, missing, *extra)
    assert r.returncode == 1 and r.stderr.strip() == f"npucc: error: {missing}: cannot open: No such file or directory"
    r = run_npucc(command, tmp_path, *extra)
    assert r.returncode == 1 and f"npucc: error: {tmp_path}: " in r.stderr and "magic" not in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()


def test_bundle_with_input_shape_is_refused(bundle):
    r = run_npucc("inspect", bundle, "--input-shape", "input=1,2")
    assert r.returncode == 1 and "--input-shape applies to ONNX models" in r.stderr


def test_onnx_inspection_unchanged():
    r = run_npucc("inspect", ROOT / "samples" / "digits_cnn.onnx")
    assert r.returncode == 0, r.stderr
    golden = (ROOT / "Tests/DriverTests/Goldens/inspect_digits_cnn.txt").read_text()
    assert r.stdout.replace(str(ROOT) + "/", "") == golden


def test_command_line_tool(bundle):
    ok = subprocess.run([sys.executable, ROOT / "tools" / "npub.py", bundle], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "WGHT" in ok.stdout and "ok" in ok.stdout
    assert json.loads(ok.stdout[ok.stdout.index("metadata:") + len("metadata:"):]) == METADATA
    bundle.write_bytes(bundle.read_bytes()[:-1])
    bad = subprocess.run([sys.executable, ROOT / "tools" / "npub.py", bundle], capture_output=True, text=True)
    assert bad.returncode == 1 and "truncated: section WGHT" in bad.stderr
