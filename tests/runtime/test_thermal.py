"""Thermal reading, warm-up and frame-rate control on a fake sysfs tree (no sleeps: time is passed in)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edgecam.runtime.settings import ThermalSettings
from edgecam.runtime.thermal import ThermalGovernor, ThermalReader, decode_throttled
from edgecam.runtime.warmup import warm_up


class FakeSysfs:
    """A Raspberry Pi-like sysfs tree: two thermal zones, the firmware node, the rpi_volt hwmon."""

    def __init__(self, root: Path, cpu_zone: int = 1, firmware: str = "devices/platform/soc/soc:firmware") -> None:
        self.root = root
        for n, kind in enumerate(["gpu-thermal", "cpu-thermal"] if cpu_zone == 1 else ["cpu-thermal", "gpu-thermal"]):
            zone = root / f"class/thermal/thermal_zone{n}"
            zone.mkdir(parents=True)
            (zone / "type").write_text(kind + "\n")
            (zone / "temp").write_text("30000\n")
        self.temp_file = root / f"class/thermal/thermal_zone{cpu_zone}/temp"
        self.throttled_file = root / firmware / "get_throttled"
        self.throttled_file.parent.mkdir(parents=True)
        self.throttled_file.write_text("0\n")
        other = root / "class/hwmon/hwmon0"
        other.mkdir(parents=True)
        (other / "name").write_text("cpu_thermal\n")
        volt = root / "class/hwmon/hwmon1"
        volt.mkdir(parents=True)
        (volt / "name").write_text("rpi_volt\n")
        self.lcrit_file = volt / "in0_lcrit_alarm"
        self.lcrit_file.write_text("0\n")

    def set_temp(self, celsius: float) -> None:
        self.temp_file.write_text(f"{round(celsius * 1000)}\n")

    def set_throttled(self, text: str) -> None:
        self.throttled_file.write_text(text + "\n")


@pytest.fixture
def sysfs(tmp_path):
    return FakeSysfs(tmp_path / "sys")


def test_reader_picks_the_cpu_zone_and_decodes_flags(sysfs):
    sysfs.set_temp(61.234)
    sysfs.set_throttled("50005")  # under-voltage now; under-voltage & throttling occurred
    r = ThermalReader(sysfs.root).read()
    assert r.temperature_c == pytest.approx(61.234)
    assert r.throttled == 0x50005
    assert r.flags == ("under-voltage", "throttled", "under-voltage-occurred", "throttled-occurred")
    assert r.throttling_now is True
    assert r.undervoltage is False  # the hwmon alarm is authoritative when present
    sysfs.lcrit_file.write_text("1\n")
    sysfs.set_throttled("0x80000")
    r = ThermalReader(sysfs.root).read()
    assert r.undervoltage is True and r.flags == ("soft-temp-limit-occurred",) and r.throttling_now is False


def test_reader_globs_for_get_throttled_and_falls_back_to_first_zone(tmp_path):
    fake = FakeSysfs(tmp_path / "sys", cpu_zone=0, firmware="devices/platform/axi/1000120000.firmware")
    for zone in (tmp_path / "sys/class/thermal").iterdir():
        (zone / "type").write_text("soc-thermal\n")  # no zone says cpu-thermal
    (tmp_path / "sys/class/thermal/thermal_zone0/temp").write_text("45500\n")
    (tmp_path / "sys/class/thermal/thermal_zone1/temp").write_text("99000\n")
    fake.set_throttled("4")
    fake.lcrit_file.unlink()
    r = ThermalReader(fake.root).read()
    assert r.temperature_c == 45.5
    assert r.flags == ("throttled",) and r.undervoltage is False  # from bit 0 without the hwmon node


def test_reader_on_a_machine_without_sensors(tmp_path):
    r = ThermalReader(tmp_path).read()
    assert (r.temperature_c, r.throttled, r.undervoltage, r.flags) == (None, None, None, ())
    gov = ThermalGovernor(ThermalSettings(sysfs_root=str(tmp_path)), base_fps=5.0)
    assert gov.update(0.0) == 5.0
    assert gov.stats() == {"temperature_c": None, "throttled": None, "throttle_flags": [], "undervoltage": None,
                           "target_fps": 5.0, "thermal_level": 0}


def test_decode_unknown_bits():
    assert decode_throttled(0) == ()
    assert decode_throttled(1 << 5 | 1 << 3) == ("soft-temp-limit", "bit5")


def test_governor_drops_fps_stepwise_when_hot_then_recovers_when_cool(sysfs, caplog):
    s = ThermalSettings(soft_limit_c=75.0, hysteresis_c=5.0, step_s=10.0, step_factor=1.5, min_fps=0.5, poll_s=1.0,
                        sysfs_root=str(sysfs.root))
    gov = ThermalGovernor(s, base_fps=5.0)
    caplog.set_level(logging.INFO, logger="edgecam.runtime.thermal")

    def run(seconds_from, seconds_to):
        return [gov.update(float(t)) for t in range(seconds_from, seconds_to)]

    sysfs.set_temp(60.0)
    assert set(run(0, 30)) == {5.0}

    sysfs.set_temp(78.0)  # above the soft limit: one step now, one more every step_s
    fps = run(30, 80)
    assert fps[0] == pytest.approx(5.0 / 1.5)
    assert sorted(set(fps), reverse=True) == pytest.approx([5 / 1.5, 5 / 1.5**2, 5 / 1.5**3, 5 / 1.5**4, 5 / 1.5**5])
    assert all(a >= b for a, b in zip(fps, fps[1:]))  # monotonic while hot
    assert gov.level == 5 and gov.stats()["temperature_c"] == 78.0 and gov.stats()["thermal_level"] == 5
    assert any("lowered" in r.message for r in caplog.records)

    fps = run(80, 400)  # stays hot: floor at min_fps
    assert fps[-1] == pytest.approx(0.5) and min(fps) == pytest.approx(0.5)

    sysfs.set_temp(72.0)  # inside the hysteresis band: hold
    level = gov.level
    assert run(400, 460) == [pytest.approx(0.5)] * 60 and gov.level == level == 6

    sysfs.set_temp(65.0)  # below soft_limit - hysteresis: restore one step per step_s
    fps = run(460, 600)
    assert all(a <= b for a, b in zip(fps, fps[1:]))
    assert fps[-1] == 5.0 and gov.level == 0
    steps_up = sum(1 for a, b in zip(fps, fps[1:]) if b > a)
    assert steps_up == level - 1  # the first step happened at t=460, before the first recorded value
    assert gov.stats()["target_fps"] == 5.0


def test_governor_polls_at_most_every_poll_s(sysfs):
    calls = []
    reader = ThermalReader(sysfs.root)
    original = reader.read
    reader.read = lambda: calls.append(1) or original()  # count real reads
    gov = ThermalGovernor(ThermalSettings(poll_s=2.0, sysfs_root=str(sysfs.root)), reader, base_fps=5.0)
    for i in range(100):
        gov.update(i * 0.1)  # 10 s at 10 Hz
    assert len(calls) == 5


def test_governor_disabled_reports_but_never_throttles(sysfs):
    sysfs.set_temp(90.0)
    sysfs.set_throttled("0xe0008")
    gov = ThermalGovernor(ThermalSettings(enabled=False, sysfs_root=str(sysfs.root)), base_fps=4.0)
    assert {gov.update(float(t)) for t in range(0, 100)} == {4.0}
    st = gov.stats()
    assert st["temperature_c"] == 90.0 and st["throttled"] is True
    assert st["throttle_flags"] == ["soft-temp-limit", "arm-freq-capped-occurred", "throttled-occurred",
                                    "soft-temp-limit-occurred"]


def test_base_fps_below_min_fps_is_never_stretched(sysfs):
    sysfs.set_temp(95.0)
    gov = ThermalGovernor(ThermalSettings(min_fps=1.0, sysfs_root=str(sysfs.root)), base_fps=0.5)
    assert {gov.update(float(t)) for t in range(0, 100)} == {0.5}


def test_settings_validation():
    with pytest.raises(ValueError, match="warmup_max_runs"):
        ThermalSettings(warmup_min_runs=5, warmup_max_runs=3).validate()
    with pytest.raises(ValueError, match="hysteresis_c"):
        ThermalSettings(soft_limit_c=40.0, hysteresis_c=45.0).validate()


def latencies(seq):
    it = iter(seq)
    calls = []

    def infer():
        calls.append(1)
        return next(it)

    return infer, calls


def test_warm_up_runs_at_least_min_runs_even_when_stable():
    infer, calls = latencies([10.0] * 50)
    out = warm_up(infer, min_runs=3)
    assert out.latencies_ms == (10.0, 10.0, 10.0) and out.stopped_by == "settled"
    assert out.start_c is None and out.stats()["warmup_start_c"] is None  # no sensor: latency alone decides
    infer, calls = latencies([10.0] * 50)
    assert warm_up(infer, min_runs=7).runs == 7


def test_warm_up_continues_until_latency_settles():
    seq = [80.0, 40.0, 30.0, 25.0, 21.0, 20.0, 20.5, 19.8, 99.0]
    infer, calls = latencies(seq)
    out = warm_up(infer, min_runs=3, max_runs=20, tolerance=0.10)
    assert list(out.latencies_ms) == seq[:7]  # (25, 21, 20) spans 25 %; (21, 20, 20.5) is the first within 10 %


def test_warm_up_stops_at_the_run_cap_and_the_time_cap():
    infer, calls = latencies([10.0, 20.0] * 50)
    out = warm_up(infer, min_runs=3, max_runs=8)
    assert out.runs == 8 and len(calls) == 8 and out.stopped_by == "max_runs"
    now = [0.0]

    def slow_infer():  # every run takes 2 s of (fake) time
        now[0] += 2.0
        return 10.0 if len(calls2) % 2 else 20.0

    calls2: list = []
    out = warm_up(lambda: (calls2.append(1), slow_infer())[1], max_runs=100, max_s=9.0, clock=lambda: now[0])
    assert out.stopped_by == "max_s" and out.runs == 5 and out.duration_s == 10.0
    with pytest.raises(ValueError):
        warm_up(lambda: 1.0, min_runs=5, max_runs=2)


class HeatingSoc:
    """Each inference heats the fake SoC towards 70 °C (first-order), as a Pi under load does."""

    def __init__(self, sysfs, start_c=45.0, target_c=70.0, rate=0.15) -> None:
        self.sysfs, self.temp, self.target, self.rate = sysfs, start_c, target_c, rate
        self.runs = 0
        sysfs.set_temp(start_c)

    def infer(self) -> float:
        self.runs += 1
        self.temp += (self.target - self.temp) * self.rate
        self.sysfs.set_temp(self.temp)
        return 20.0  # the latency settled at once: only the temperature keeps the warm-up going


def test_warm_up_runs_until_the_temperature_rise_flattens(sysfs):
    soc = HeatingSoc(sysfs)
    reader = ThermalReader(sysfs.root)
    out = warm_up(soc.infer, lambda: reader.read().temperature_c, min_runs=3, max_runs=200, flat_c_per_run=0.1)
    assert out.stopped_by == "settled"
    assert out.start_c == 45.0 and out.end_c == pytest.approx(soc.temp, abs=1e-3) and out.end_c > 65.0
    temps = out.temperatures_c
    assert (temps[-1] - temps[-6]) / 5 <= 0.1 < (temps[-2] - temps[-7]) / 5  # stopped at the first flat window
    assert out.runs == soc.runs > 3 and len(temps) == out.runs + 1
    s = out.stats()
    assert s["warmup_runs"] == out.runs and s["warmup_start_c"] == 45.0 and s["warmup_settled"] is True
    assert "45.0 → " in out.summary() and f"{out.runs} runs" in out.summary()


def test_governor_starts_throttled_when_warm_up_ends_at_the_soft_limit(sysfs):
    soc = HeatingSoc(sysfs, start_c=70.0, target_c=85.0)
    reader = ThermalReader(sysfs.root)
    out = warm_up(soc.infer, lambda: reader.read().temperature_c, max_runs=200)
    assert out.end_c >= 75.0
    gov = ThermalGovernor(ThermalSettings(sysfs_root=str(sysfs.root), step_s=10.0), base_fps=6.0)
    assert gov.prime(out.end_c, now=0.0) == 4.0 and gov.level == 1
    cool = ThermalGovernor(ThermalSettings(sysfs_root=str(sysfs.root)), base_fps=6.0)
    assert cool.prime(60.0, now=0.0) == 6.0 and cool.level == 0
