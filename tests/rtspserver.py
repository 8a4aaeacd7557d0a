"""A real RTSP server for the tests: GStreamer's gst-rtsp-server through Debian's python3-gi.

Run under the system interpreter (``/usr/bin/python3``; the venv has no ``gi``)::

    /usr/bin/python3 tests/rtspserver.py --port 8554 --image crowd.jpg [--user U --password P]

Mounts: ``/cam`` — the JPEG frozen into a live H.264 stream (640×360, ``--fps``, x264 zero-latency,
a key frame every second); ``/audio`` — an audio-only stream (A-law tone); with ``--video FILE`` also
``/video``: an H.264 MP4 streamed as it is (benchmarks; needs h264parse, gstreamer1.0-plugins-bad).
With ``--user`` every mount needs HTTP Basic credentials (a ``@`` or ``:`` in the password is fine).
Prints ``READY <port>`` on stdout once it listens; runs until killed.  The fixture: ``rtspkit.py``.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def video_launch(image: str, fps: int, width: int, height: int) -> str:
    return (f"( filesrc location=\"{image}\" ! jpegdec ! imagefreeze is-live=true ! videoconvert ! videoscale ! "
            f"videorate ! video/x-raw,width={width},height={height},framerate={fps}/1,format=I420 ! "
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=800 ! "
            "rtph264pay name=pay0 pt=96 config-interval=1 )")


def file_launch(video: str) -> str:
    """An H.264 MP4 streamed as it is (no re-encoding), once per client, from its start."""
    return f"( filesrc location=\"{video}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"


AUDIO_LAUNCH = "( audiotestsrc is-live=true ! audioconvert ! audioresample ! alawenc ! rtppcmapay name=pay0 pt=8 )"


def factory(launch: str, perms: GstRtspServer.RTSPPermissions | None, shared: bool = True) -> GstRtspServer.RTSPMediaFactory:
    f = GstRtspServer.RTSPMediaFactory()
    f.set_launch(launch)
    f.set_shared(shared)
    if perms is not None:
        f.set_permissions(perms)
    return f


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--video", default="", help="also serve this H.264 MP4 at /video (benchmarks)")
    a = p.parse_args(argv)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    perms = None
    if a.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        perms.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    mounts = server.get_mount_points()
    mounts.add_factory("/cam", factory(video_launch(a.image, a.fps, a.width, a.height), perms))
    mounts.add_factory("/audio", factory(AUDIO_LAUNCH, perms))
    if a.video:
        mounts.add_factory("/video", factory(file_launch(a.video), perms, shared=False))
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{a.port}", file=sys.stderr, flush=True)
        return 1
    print(f"READY {a.port}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
