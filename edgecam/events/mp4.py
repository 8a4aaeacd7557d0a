"""Writing a clip: packets remuxed into fragmented MP4 with PyAV, no re-encoding.

Fragmented (``frag_keyframe+empty_moov``): every keyframe starts a fragment that is complete on disk,
so a clip cut short by a crash still plays up to its last fragment (:func:`clip_plays` decides at the
next start whether to keep it)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from edgecam.events.packets import StoredPacket, StreamTemplate

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_WALL_TB = Fraction(1, 90000)


class ClipWriter:
    def __init__(self, path: Path, template: StreamTemplate) -> None:
        import av

        self.path = Path(path)
        self.template = template
        self._av = av
        self._out = av.open(str(path), "w", format="mp4", options={"movflags": MOVFLAGS, "flush_packets": "1"})
        self._stream = self._out.add_stream_from_template(template.stream, opaque=True)
        self._origin: tuple[int, float] | None = None  # (first timestamp, its wall time)
        self._last_dts: int | None = None
        self.packets = 0
        self.first_wall: float | None = None
        self.last_wall: float | None = None

    def write(self, p: StoredPacket) -> None:
        tb = p.time_base
        ts = p.dts if p.dts is not None else p.pts
        if ts is None:  # no timestamps from the camera: its wall clock
            tb, ts = _WALL_TB, round(p.wall / _WALL_TB)
        if self._origin is None:
            self._origin = (ts, p.wall)
            self.first_wall = p.wall
        dts = ts - self._origin[0]
        pts = (p.pts - self._origin[0]) if (p.pts is not None and tb == p.time_base) else dts
        if self._last_dts is not None and dts <= self._last_dts:  # a camera clock that jumped back
            dts = self._last_dts + 1
        pts = max(pts, dts)
        self._last_dts = dts
        packet = self._av.Packet(p.data)
        packet.pts, packet.dts, packet.time_base = pts, dts, tb
        packet.is_keyframe = p.keyframe
        packet.stream = self._stream
        self._out.mux(packet)
        self.packets += 1
        self.last_wall = p.wall

    def close(self) -> None:
        """Finish the file and make it durable (fsync)."""
        self._out.close()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def abort(self) -> None:
        try:
            self._out.close()
        except Exception:  # noqa: BLE001 - the file is removed anyway
            pass
        self.path.unlink(missing_ok=True)


def clip_plays(path: Path) -> bool:
    """True if the file opens and at least one video frame decodes."""
    try:
        import av

        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                return True
    except Exception:  # noqa: BLE001 - any failure means it does not play
        return False
    return False


def salvage_clip(path: Path) -> bool:
    """Rewrite a clip cut short by a crash with only its packets that decode (the torn tail dropped), in place.

    True if at least one frame was kept: the file then plays from start to end; False otherwise."""
    import av

    tmp = Path(str(path) + ".salvage")
    kept = 0
    try:
        with av.open(str(path)) as src:
            stream = src.streams.video[0]
            decoder = av.CodecContext.create(stream.codec_context.name, "r")
            decoder.extradata = stream.codec_context.extradata
            with av.open(str(tmp), "w", format="mp4", options={"movflags": MOVFLAGS}) as out:
                dst = out.add_stream_from_template(stream, opaque=True)
                try:
                    for packet in src.demux(stream):
                        if packet.size == 0:
                            continue
                        decoder.decode(packet)  # raises on a torn packet: stop there
                        packet.stream = dst
                        out.mux(packet)
                        kept += 1
                except (av.error.FFmpegError, ValueError):
                    pass
        if kept:
            os.replace(tmp, path)
        return kept > 0 and clip_plays(path)
    except Exception:  # noqa: BLE001 - a file that does not even open is not a clip
        return False
    finally:
        tmp.unlink(missing_ok=True)
