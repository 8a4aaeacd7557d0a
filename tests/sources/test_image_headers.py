"""Image sizes read from headers agree with what OpenCV decodes; hostile headers are refused, never decoded."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecam.sources.imagefile import ImageProblem, check_image_bytes, decode_image
from edgecam.sources.imageheader import ImageHeaderError, image_info

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 255, (37, 53, 3), dtype=np.uint8)


def _cv2(ext, image=IMAGE, *params):
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def _tiff_be(w, h):
    """An uncompressed big-endian greyscale TIFF (OpenCV writes little-endian ones)."""
    entries = [(256, 3, w), (257, 3, h), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8 + 2 + 9 * 12 + 4),
               (277, 3, 1), (278, 3, h), (279, 4, w * h)]
    out = b"MM\x00*" + struct.pack(">IH", 8, len(entries))
    for tag, typ, val in entries:
        out += struct.pack(">HHI", tag, typ, 1) + (struct.pack(">HH", val, 0) if typ == 3 else struct.pack(">I", val))
    return out + struct.pack(">I", 0) + bytes(w * h)


def _bmp_core(w, h):
    """A BITMAPCOREHEADER (OS/2) BMP: 16-bit sizes, 24 bits a pixel."""
    row = (w * 3 + 3) & ~3
    pixels = bytes(row * h)
    header = struct.pack("<2sIHHI", b"BM", 26 + len(pixels), 0, 0, 26) + struct.pack("<IHHHH", 12, w, h, 1, 24)
    return header + pixels


ENCODED = {
    "png": lambda: _cv2(".png"),
    "png-gray16": lambda: _cv2(".png", (IMAGE[:, :, 0].astype(np.uint16) * 257)),
    "jpeg": lambda: _cv2(".jpg"),
    "jpeg-progressive": lambda: _cv2(".jpg", IMAGE, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    "bmp": lambda: _cv2(".bmp"),
    "bmp-top-down": lambda: _cv2(".bmp")[:22] + struct.pack("<i", -37) + _cv2(".bmp")[26:],
    "bmp-core": lambda: _bmp_core(53, 37),
    "gif": lambda: _cv2(".gif"),
    "webp-lossy": lambda: _cv2(".webp", IMAGE, cv2.IMWRITE_WEBP_QUALITY, 80),
    "webp-lossless": lambda: _cv2(".webp", IMAGE, cv2.IMWRITE_WEBP_QUALITY, 101),
    "webp-alpha": lambda: _cv2(".webp", np.dstack([IMAGE, IMAGE[:, :, :1]]), cv2.IMWRITE_WEBP_QUALITY, 80),
    "tiff-le": lambda: _cv2(".tiff"),
    "tiff-be": lambda: _tiff_be(53, 37),
    "ppm": lambda: _cv2(".ppm"),
    "pgm": lambda: _cv2(".pgm", IMAGE[:, :, 0]),
    "pbm": lambda: _cv2(".pbm", IMAGE[:, :, 0]),
    "pam": lambda: _cv2(".pam"),
    "pfm": lambda: _cv2(".pfm", IMAGE.astype(np.float32) / 255),
}


@pytest.mark.parametrize("kind", sorted(ENCODED))
def test_header_size_is_the_decoded_size(kind):
    data = ENCODED[kind]()
    info = image_info(data)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None, kind
    assert (info.width, info.height) == (decoded.shape[1], decoded.shape[0]) == (53, 37), (kind, info)
    assert decode_image(data, kind).shape == (37, 53, 3)


def png_header(w, h, idat=b""):
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_header(w, h):
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + b"\xff\xff" + sof + b"\xff\xd9"  # with a fill byte before SOF


@pytest.mark.parametrize("data,fmt", [
    (png_header(30000, 30000), "PNG"),
    (jpeg_header(65535, 65535), "JPEG"),
    (b"BM" + bytes(12) + struct.pack("<Iii", 40, 100000, -100000) + bytes(30), "BMP"),
    (b"GIF89a" + struct.pack("<HH", 10, 10) + b"\x00\x00\x00" + b"\x2c" + struct.pack("<HHHH", 0, 0, 60000, 60000) + b"\x00",
     "GIF"),
    (b"RIFF" + bytes(4) + b"WEBPVP8X" + bytes(8) + (16383).to_bytes(3, "little") * 2, "WebP"),
    (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + struct.pack("<HHII", 256, 4, 1, 100000)
     + struct.pack("<HHII", 257, 4, 1, 100000), "TIFF"),
    (b"P6\n# comment\n100000 100000\n255\n", "PNM"),
])
def test_huge_declared_sizes_are_refused_before_decoding(data, fmt):
    with pytest.raises(ImageProblem, match=f"{fmt} image .* above the pixel budget") as err:
        check_image_bytes(data, "image bomb.x", max_pixels=50_000_000)
    assert "bomb.x" in str(err.value) and "--max-pixels" in str(err.value)


@pytest.mark.parametrize("data,needle", [
    (b"", "empty"), (b"hello world", "not a supported image format"), (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "convert it"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "truncated PNG"), (b"\xff\xd8\xff\xe0\x00", "JPEG"), (b"\xff\xd8\xff\xda", "JPEG"),
    (b"II*\x00\xff\xff\xff\x7f", "truncated TIFF"), (b"P6\nabc", "truncated PNM"),
    (b"II+\x00" + struct.pack("<HHQ", 8, 0, 2**63 + 5), "truncated TIFF"),  # found by the fuzzer: a 64-bit offset
])
def test_unreadable_headers_name_the_problem(data, needle):
    with pytest.raises(ImageProblem, match=needle) as err:
        check_image_bytes(data, "image x.jpg")
    assert str(err.value).startswith("image x.jpg: ")


SAMPLES = [ENCODED[k]() for k in sorted(ENCODED)] + [png_header(30000, 30000), jpeg_header(640, 480)]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SAMPLES))[:256])
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "max"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(max_size=8))
        elif data:
            data[pos:pos + 4] = b"\xff\xff\xff\xff"
    return bytes(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.binary(max_size=64)))
def test_header_fuzz_only_ever_refuses_in_one_line(data):
    """Any bytes: a size, or ImageHeaderError — never another exception, never a size OpenCV could not hold."""
    try:
        info = image_info(data)
    except ImageHeaderError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert info.width >= 0 and info.height >= 0
    try:
        check_image_bytes(data, "image fuzz", max_pixels=50_000_000)
    except ImageProblem as exc:
        assert str(exc).startswith("image fuzz: ") and "\n" not in str(exc)


@pytest.mark.parametrize("missing", ["none", "utils.logging", "both"])
def test_decoding_works_whatever_logging_api_this_opencv_has(monkeypatch, missing):
    """``cv2.utils.logging`` is absent from opencv-python-headless 4.11 on aarch64 with Debian's numpy
    (``make pi-check``: ``edgecam detect`` died with AttributeError there): decoding must not need it,
    and a corrupt image is still one ImageProblem line."""
    import cv2

    if missing in ("utils.logging", "both"):
        monkeypatch.delattr(cv2.utils, "logging", raising=False)
    if missing == "both":
        monkeypatch.delattr(cv2, "setLogLevel", raising=False)
        monkeypatch.delattr(cv2, "getLogLevel", raising=False)
    ok, png = cv2.imencode(".png", np.full((37, 53, 3), 7, np.uint8))
    assert ok
    assert decode_image(png.tobytes(), "good.png").shape == (37, 53, 3)
    broken = png.tobytes()[:40] + b"\0" * 40  # header intact, data gone
    with pytest.raises(ImageProblem, match="cannot decode this PNG image"):
        decode_image(broken, "broken.png")


def test_opencv_logging_is_restored_after_decoding():
    import cv2

    log = cv2.utils.logging
    before = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_WARNING)
    try:
        ok, png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
        with pytest.raises(ImageProblem):
            decode_image(png.tobytes()[:40] + b"\0" * 40, "broken.png")
        assert log.getLogLevel() == log.LOG_LEVEL_WARNING
    finally:
        log.setLogLevel(before)
