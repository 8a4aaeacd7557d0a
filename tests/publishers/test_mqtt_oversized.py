"""Huge MQTT command payloads are dropped unread (issue 23): a real broker, the real publisher.

paho reads a whole PUBLISH before it calls back, so the bound is: drop a message larger than
``MAX_INBOUND`` before it is copied or decoded (one warning per topic per minute, counted), and ask an
MQTT 5 broker not to send packets larger than ``MAX_PACKET`` at all."""

from __future__ import annotations

import logging

import pytest
from mqttkit import CAM, _publisher

from edgecam.controls import Controls
from edgecam.publishers.mqtt.link import MAX_INBOUND


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_huge_command_payloads_are_dropped_and_counted(tmp_path, mosquitto, mqtt_recorder, caplog, protocol):
    controls = Controls(detection_enabled=True, conf=0.45)
    pub = _publisher(mosquitto, tmp_path, controls=controls, protocol=protocol)
    pub.start()
    try:
        assert pub.wait_connected(10)
        rec = mqtt_recorder(mosquitto)
        base = f"edgecam/{CAM}"
        rec.wait_for(f"{base}/state/conf", lambda m: m.payload == b"0.45")
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                rec.publish(f"{base}/set/conf", b"0" * (8 * 1024 * 1024))  # 8 MiB of digits
            rec.publish(f"{base}/set/conf", "0.6")
            rec.wait_for(f"{base}/state/conf", lambda m: m.payload == b"0.6")  # later commands still work
        assert controls.conf == pytest.approx(0.6)
        dropped = [r.getMessage() for r in caplog.records if "dropped a" in r.getMessage()]
        if protocol == "5":  # the broker itself refused to send them (Maximum Packet Size)
            assert pub.stats()["oversized_dropped"] == 0 and not dropped
        else:
            assert pub.stats()["oversized_dropped"] == 3
            assert len(dropped) == 1 and f"at most {MAX_INBOUND} bytes" in dropped[0]
        assert not any("command ignored" in r.getMessage() for r in caplog.records)
    finally:
        pub.close()
