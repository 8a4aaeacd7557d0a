"""Image dimensions read from the file's header, before anything is decoded (pure Python).

A 1 MB PNG can declare 30000×30000 pixels; decoding it allocates 2.7 GB and crashes ncnn later. The size
is read here from the bytes and checked against a pixel budget first. OpenCV picks its decoder by the
content's signature, not the file name, so this does too: PNG (IHDR), JPEG (SOFn), BMP, GIF (logical
screen and first frame), WebP (VP8/VP8L/VP8X), TIFF and BigTIFF (first IFD), and PNM/PAM/PFM.

Any other content is refused rather than decoded: OpenCV's own limit (``OPENCV_IO_MAX_IMAGE_PIXELS``) is
read once when cv2 loads and defaults to 2³⁰ pixels — far above any budget here — so a format whose size
cannot be read beforehand has no safe way in. The fix for the user is one conversion to JPEG or PNG.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

SUPPORTED = "JPEG, PNG, BMP, GIF, WebP, TIFF or PNM"

_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNM_NUMBER = re.compile(rb"(?:\s|#[^\n\r]*[\n\r])*(\d{1,10})")


class ImageHeaderError(ValueError):
    """The header is unreadable or names an unsupported format; the text says which and the fix."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int


def _truncated(fmt: str) -> ImageHeaderError:
    return ImageHeaderError(f"truncated {fmt} header; the file is cut short or corrupt — re-export it")


def _png(data: bytes) -> ImageInfo:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _truncated("PNG")
    w, h = struct.unpack_from(">II", data, 16)
    return ImageInfo("PNG", w, h)


def _jpeg(data: bytes) -> ImageInfo:
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ImageHeaderError(f"corrupt JPEG: no marker at byte {pos}; re-export the image")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            continue
        if marker == 0xD9 or marker == 0xDA:  # end of image / start of scan before any frame header
            break
        if pos + 2 > n:
            break
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise ImageHeaderError(f"corrupt JPEG: segment length {length} at byte {pos}; re-export the image")
        if marker in _JPEG_SOF:
            if pos + 7 > n:
                break
            h, w = struct.unpack_from(">HH", data, pos + 3)
            if h == 0:
                raise ImageHeaderError("JPEG whose height is only given after the scan (DNL) is not supported; re-save it")
            return ImageInfo("JPEG", w, h)
        pos += length
    raise _truncated("JPEG")


def _bmp(data: bytes) -> ImageInfo:
    if len(data) < 26:
        raise _truncated("BMP")
    (dib,) = struct.unpack_from("<I", data, 14)
    if dib == 12:  # BITMAPCOREHEADER: unsigned 16-bit sizes
        w, h = struct.unpack_from("<HH", data, 18)
    else:
        w, h = struct.unpack_from("<ii", data, 18)
    return ImageInfo("BMP", abs(w), abs(h))


def _gif(data: bytes) -> ImageInfo:
    if len(data) < 13:
        raise _truncated("GIF")
    w, h = struct.unpack_from("<HH", data, 6)
    pos = 13
    if data[10] & 0x80:  # global colour table
        pos += 3 << ((data[10] & 7) + 1)
    while pos < len(data):
        block = data[pos]
        if block == 0x21 and pos + 2 <= len(data):  # extension: label, then sub-blocks until a 0 size
            pos += 2
            while pos < len(data) and data[pos]:
                pos += data[pos] + 1
            pos += 1
        elif block == 0x2C and pos + 9 <= len(data):  # first image descriptor: its frame may exceed the screen
            left, top, fw, fh = struct.unpack_from("<HHHH", data, pos + 1)
            return ImageInfo("GIF", max(w, left + fw), max(h, top + fh))
        else:
            break
    return ImageInfo("GIF", w, h)


def _webp(data: bytes) -> ImageInfo:
    if len(data) < 30:
        raise _truncated("WebP")
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ImageHeaderError("corrupt WebP (lossless signature missing); re-export the image")
        bits = int.from_bytes(data[21:25], "little")
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ImageHeaderError("corrupt WebP (VP8 start code missing); re-export the image")
        w, h = struct.unpack_from("<HH", data, 26)
        w, h = w & 0x3FFF, h & 0x3FFF
    else:
        raise ImageHeaderError(f"WebP with an unknown first chunk {chunk!r}; re-export the image")
    return ImageInfo("WebP", w, h)


def _tiff(data: bytes) -> ImageInfo:
    end = "<" if data[:2] == b"II" else ">"
    try:
        (version,) = struct.unpack_from(end + "H", data, 2)
        big = version == 43
        if big:
            (ifd,) = struct.unpack_from(end + "Q", data, 8)
            (count,) = struct.unpack_from(end + "Q", data, ifd)
            entry, size, first = "HHQ8s", 20, ifd + 8
        else:
            (ifd,) = struct.unpack_from(end + "I", data, 4)
            (count,) = struct.unpack_from(end + "H", data, ifd)
            entry, size, first = "HHI4s", 12, ifd + 2
        found: dict[int, int] = {}
        for i in range(min(count, 4096)):
            tag, typ, _, value = struct.unpack_from(end + entry, data, first + i * size)
            if tag in (256, 257):
                fmt = {3: "H", 4: "I", 16: "Q"}.get(typ)
                if fmt is None:
                    raise ImageHeaderError(f"TIFF size tag {tag} has type {typ}; re-export the image")
                (found[tag],) = struct.unpack_from(end + fmt, value, 0)
    except (struct.error, OverflowError):  # an offset past the end (BigTIFF offsets are 64-bit)
        raise _truncated("TIFF") from None
    if 256 not in found or 257 not in found:
        raise ImageHeaderError("TIFF without width/height tags in its first directory; re-export the image")
    return ImageInfo("TIFF", found[256], found[257])


def _pnm(data: bytes) -> ImageInfo:
    head = data[:4096]
    if head[:2] == b"P7":
        w = re.search(rb"\nWIDTH\s+(\d{1,10})", head)
        h = re.search(rb"\nHEIGHT\s+(\d{1,10})", head)
        if not (w and h):
            raise _truncated("PAM")
        return ImageInfo("PNM", int(w.group(1)), int(h.group(1)))
    pos, dims = 2, []
    for _ in range(2):
        m = _PNM_NUMBER.match(head, pos)
        if m is None:
            raise _truncated("PNM")
        dims.append(int(m.group(1)))
        pos = m.end()
    return ImageInfo("PNM", dims[0], dims[1])


def image_info(data: bytes) -> ImageInfo:
    """Format and size from the first bytes of an image file; :class:`ImageHeaderError` otherwise."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    if data[:2] == b"BM":
        return _bmp(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff(data)
    if len(data) > 2 and data[0] == ord("P") and data[1] in b"1234567fF":
        if data[1] in b"fF":
            return _pnm(b"P6" + data[2:])  # PFM: the same width/height header after its magic
        return _pnm(data)
    if not data:
        raise ImageHeaderError("the file is empty; give an image file")
    raise ImageHeaderError(f"not a supported image format; convert it to {SUPPORTED}")
