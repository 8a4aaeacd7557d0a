"""SoC temperature and throttle flags from sysfs, warm-up, and frame-rate control under heat.

* :class:`ThermalReader` reads ``class/thermal/thermal_zone*/temp`` of the ``cpu-thermal`` zone
  (else the first zone), the firmware's ``get_throttled`` node (found by a bounded glob under
  ``devices/platform``) and the ``rpi_volt`` hwmon ``in0_lcrit_alarm``, below a configurable root.
* The warm-up before the daemon declares itself ready is :mod:`edgecam.runtime.warmup`; its end
  temperature primes the governor (:meth:`ThermalGovernor.prime`).
* :class:`ThermalGovernor` holds the SoC below a soft limit by stretching the frame interval
  stepwise (``× step_factor`` every ``step_s`` while at/above the limit, never below ``min_fps``)
  and restores it one step per ``step_s`` once the SoC is below ``soft_limit_c - hysteresis_c``.
  Time is passed in, so it is testable without sleeping.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from edgecam.runtime.settings import ThermalSettings

log = logging.getLogger(__name__)

# Bits of the firmware's get_throttled word (as ``vcgencmd get_throttled`` documents them).
THROTTLE_BITS: dict[int, str] = {
    0: "under-voltage",
    1: "arm-freq-capped",
    2: "throttled",
    3: "soft-temp-limit",
    16: "under-voltage-occurred",
    17: "arm-freq-capped-occurred",
    18: "throttled-occurred",
    19: "soft-temp-limit-occurred",
}
ACTIVE_MASK = 0xF  # bits 0-3: conditions present right now


def decode_throttled(bits: int) -> tuple[str, ...]:
    """Names of the set bits, in bit order; unknown bits are reported as ``bit<N>``."""
    names = []
    for bit in range(max(int(bits).bit_length(), 0)):
        if bits >> bit & 1:
            names.append(THROTTLE_BITS.get(bit, f"bit{bit}"))
    return tuple(names)


@dataclass(frozen=True, slots=True)
class ThermalReading:
    temperature_c: float | None
    throttled: int | None  # raw get_throttled bits
    undervoltage: bool | None
    flags: tuple[str, ...] = ()

    @property
    def throttling_now(self) -> bool | None:
        """True if any of the firmware's *current* conditions (bits 0-3) is set; None if unknown."""
        return None if self.throttled is None else bool(self.throttled & ACTIVE_MASK)


def _read_text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _zone_number(path: Path) -> int:
    digits = "".join(ch for ch in path.name if ch.isdigit())
    return int(digits) if digits else 0


class ThermalReader:
    """Reads the Pi's thermal/throttle sysfs nodes under ``root`` (``/sys``, or a fake tree in tests)."""

    GET_THROTTLED = "devices/platform/soc/soc:firmware/get_throttled"

    def __init__(self, root: str | Path = "/sys") -> None:
        self.root = Path(root)
        self._discovered = False
        self._temp: Path | None = None
        self._throttled: Path | None = None
        self._lcrit: Path | None = None

    def _discover(self) -> None:
        self._discovered = True
        zones = sorted(self.root.glob("class/thermal/thermal_zone*"), key=_zone_number)
        typed = [(z, _read_text(z / "type") or "") for z in zones]
        cpu = [z for z, kind in typed if "cpu-thermal" in kind]
        chosen = (cpu or [z for z, _ in typed if (z / "temp").exists()] or [None])[0]
        self._temp = chosen / "temp" if chosen is not None else None
        known = self.root / self.GET_THROTTLED
        if known.exists():
            self._throttled = known
        else:  # bounded-depth glob: real sysfs is large and full of symlink loops
            platform = self.root / "devices/platform"
            for depth in range(1, 5):
                found = sorted(platform.glob("/".join(["*"] * depth) + "/get_throttled"))
                if found:
                    self._throttled = found[0]
                    break
        for hwmon in sorted(self.root.glob("class/hwmon/hwmon*"), key=_zone_number):
            if _read_text(hwmon / "name") == "rpi_volt":
                for candidate in (hwmon / "in0_lcrit_alarm", hwmon / "device" / "in0_lcrit_alarm"):
                    if candidate.exists():
                        self._lcrit = candidate
                        break
        log.debug("thermal sources under %s: temp=%s get_throttled=%s lcrit=%s",
                  self.root, self._temp, self._throttled, self._lcrit)
        if self._temp is None:
            log.info("no SoC temperature sensor under %s/class/thermal; thermal control inactive", self.root)

    def read(self) -> ThermalReading:
        if not self._discovered:
            self._discover()
        temperature = None
        text = _read_text(self._temp)
        if text:
            try:
                temperature = int(text) / 1000.0
            except ValueError:
                log.debug("unreadable temperature %r in %s", text, self._temp)
        throttled = None
        text = _read_text(self._throttled)
        if text:
            try:
                throttled = int(text.removeprefix("throttled="), 16)
            except ValueError:
                log.debug("unreadable throttle flags %r in %s", text, self._throttled)
        undervoltage = None
        text = _read_text(self._lcrit)
        if text in ("0", "1"):
            undervoltage = text == "1"
        elif throttled is not None:
            undervoltage = bool(throttled & 1)
        flags = decode_throttled(throttled) if throttled is not None else ()
        return ThermalReading(temperature, throttled, undervoltage, flags)


class ThermalGovernor:
    """Target frame rate under thermal control; call :meth:`update` once per frame (cheap)."""

    def __init__(self, settings: ThermalSettings, reader: ThermalReader | None = None, base_fps: float = 5.0) -> None:
        settings.validate()
        self.settings = settings
        self.reader = reader or ThermalReader(settings.sysfs_root)
        self.level = 0
        self.reading = ThermalReading(None, None, None)
        self._last_poll: float | None = None
        self._last_step = -math.inf
        self.set_base_fps(base_fps)

    def set_base_fps(self, fps: float) -> None:
        """Change the unthrottled frame rate (e.g. from a live control); keeps the current level."""
        if fps <= 0:
            raise ValueError(f"base fps must be positive, got {fps}")
        self.base_fps = float(fps)
        s = self.settings
        if self.base_fps <= s.min_fps:
            self.max_level = 0
        else:
            self.max_level = max(1, math.ceil(math.log(self.base_fps / s.min_fps) / math.log(s.step_factor) - 1e-9))
        self.level = min(self.level, self.max_level)

    @property
    def target_fps(self) -> float:
        fps = self.base_fps / self.settings.step_factor**self.level
        return max(fps, min(self.settings.min_fps, self.base_fps))

    @property
    def interval_s(self) -> float:
        return 1.0 / self.target_fps

    def prime(self, temperature_c: float | None, now: float) -> float:
        """Start throttled (one step down) when the SoC is already at/above the soft limit, e.g. after
        the warm-up; the next step comes ``step_s`` later.  Returns the target fps."""
        s = self.settings
        if s.enabled and temperature_c is not None and temperature_c >= s.soft_limit_c and self.max_level > 0:
            self.level = max(self.level, 1)
            self._last_step = now
            log.warning("SoC at %.1f °C at start (soft limit %.1f °C): starting at %.2f fps",
                        temperature_c, s.soft_limit_c, self.target_fps)
        return self.target_fps

    def update(self, now: float) -> float:
        """Poll sysfs (at most every ``poll_s``), step the level if due, return the target fps."""
        s = self.settings
        if self._last_poll is not None and now - self._last_poll < s.poll_s:
            return self.target_fps
        self._last_poll = now
        self.reading = self.reader.read()
        temp = self.reading.temperature_c
        if not s.enabled or temp is None or now - self._last_step < s.step_s:
            return self.target_fps
        if temp >= s.soft_limit_c and self.level < self.max_level:
            self.level += 1
            self._last_step = now
            log.warning("SoC at %.1f °C (soft limit %.1f °C): frame rate lowered to %.2f fps",
                        temp, s.soft_limit_c, self.target_fps)
        elif temp < s.soft_limit_c - s.hysteresis_c and self.level > 0:
            self.level -= 1
            self._last_step = now
            log.info("SoC cooled to %.1f °C: frame rate raised to %.2f fps", temp, self.target_fps)
        return self.target_fps

    def stats(self) -> dict:
        r = self.reading
        return {
            "temperature_c": None if r.temperature_c is None else round(r.temperature_c, 1),
            "throttled": r.throttling_now,
            "throttle_flags": list(r.flags),
            "undervoltage": r.undervoltage,
            "target_fps": round(self.target_fps, 3),
            "thermal_level": self.level,
        }
