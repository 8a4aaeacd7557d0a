"""The pipeline follows the capture thread's camera state: a loss ends every live track with
``"reason": "camera_lost"`` (counts 0) in the thread that owns the tracker, in order with the frames, and
publishers hear ``offline``/``online``; the fps decays to 0 while no frame arrives."""

from __future__ import annotations

import threading

import pytest
from test_staged_pipeline import Recorder, detector, make_pipeline, run_bounded  # noqa: F401 - the 320 px detector fixture

from edgecam.runtime.stats import PipelineStats


class CameraRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.camera: list[str] = []
        self.order: list[object] = []

    def publish(self, update) -> None:
        super().publish(update)
        self.order.append(update)

    def publish_camera(self, state: str) -> None:
        self.camera.append(state)
        self.order.append(state)


class FlakyCamera:
    """Frames 0-5, then lost (capture reports offline), frames 6-9 after the reconnect, then done."""

    def __init__(self, image) -> None:
        from edgecam.domain import Frame

        self.frames = [Frame(image=image, index=i, timestamp=1000.0 + i * 0.2, pixel_format="BGR") for i in range(10)]
        self.lock = threading.Lock()
        self.taken = 0
        self.state: str | None = None
        self.losses = 0

    def next(self, timeout: float):
        with self.lock:
            if self.taken == 6 and self.losses == 0:
                self.state, self.losses = "offline", 1  # the camera went away: no frame this time
                return None
            if self.taken >= len(self.frames):
                return None
            self.state = "online"
            self.taken += 1
            return self.frames[self.taken - 1]

    def exhausted(self) -> bool:
        return self.taken >= len(self.frames)

    def camera(self):
        with self.lock:
            return self.state, self.losses


@pytest.mark.parametrize("overlap", [True, False])
def test_a_lost_camera_ends_tracks_with_a_reason_and_publishes_its_state(detector, horse, overlap):  # noqa: F811
    cam = FlakyCamera(horse)
    pub = CameraRecorder()
    p = make_pipeline(detector, cam, pub, overlap=overlap, camera=cam.camera)
    assert run_bounded(p) is None
    assert pub.camera == ["online", "offline", "online"]
    lost_at = pub.order.index("offline")
    before = [u for u in pub.order[:lost_at] if not isinstance(u, str)]
    loss = before[-1]  # the update that carried the loss: after frame 5, before frame 6
    assert [u.frame.index for u in before[:-1]] == list(range(6)) and loss.inference is None
    lost = [e for e in loss.events if e.type == "end"]
    assert len(lost) >= 3 and all(e.reason == "camera_lost" for e in lost)
    assert loss.counts and not any(loss.counts.values())  # every count to 0
    new_before = {e.id for u in before[:-1] for e in u.events if e.type == "new"}
    assert new_before == {e.id for e in lost}  # every track alive at the loss ended, once
    after = [u for u in pub.order[lost_at:] if not isinstance(u, str)]
    assert [u.frame.index for u in after if u.frame.index >= 0][:4] == [6, 7, 8, 9]
    events = [e for u in pub.updates for e in u.events]
    news = [e.id for e in events if e.type == "new"]
    ends = [e.id for e in events if e.type == "end"]
    assert sorted(news) == sorted(ends) and len(set(news)) == len(news)  # new tracks after the reconnect
    assert {e.id for u in after for e in u.events if e.type == "new"}.isdisjoint(new_before)
    assert p.current_stats()["latency_ms"]["p50"] is not None  # no MQTT here: measured at the hand-over


def test_fps_decays_to_zero_while_no_frame_arrives():
    stats = PipelineStats()
    for i in range(21):
        stats.record(100.0 + i * 0.1, None)  # 10 fps for 2 s
    assert stats.snapshot(102.0)["fps"] == pytest.approx(10.0, abs=0.1)
    assert stats.snapshot(104.0)["fps"] == pytest.approx(5.0, abs=0.1)  # 20 frames over 4 s
    assert 0 < stats.snapshot(111.0)["fps"] < 2
    assert stats.snapshot(113.0)["fps"] == 0.0  # nothing within the last 10 s
