"""Input-rate and transport-loss statistics of a camera stream (ROS-free).

The node feeds :class:`InputRateMonitor` with every image it receives (header stamp, arrival
time) and, when there is one, with the stamps of the camera_info stream that goes with it;
``report()`` then summarises the window since the previous report.

Frames lost in transport are counted from gaps in the image stamps: a gap of ``n`` publisher
periods (rounded) between two consecutive received frames means ``n - 1`` frames that never
arrived. The publisher period is the median step of the camera_info stamps when those arrive
(camera drivers publish one per frame, and small messages are rarely lost), else a low
percentile of the image stamp steps (right while most consecutive frames do arrive). Gaps
longer than ``PAUSE_PERIODS`` periods (at least ``PAUSE_MIN_S``) are pauses of the camera,
not losses; stamps that go back (a bag replayed from the start) are not counted.

Levels: WARN while no image has arrived yet, when the stream has been silent for more than
``max(timeout_s, STOP_PERIODS * period)`` (the camera stopped or every frame is lost), when
the received rate over the last ``max(RATE_WINDOW_S, RATE_WINDOW_PERIODS * period)`` is below
``COLLAPSE_RATIO`` of the publisher's rate, or when more than
``LOSS_WARN`` of the window's frames were lost in transport; OK otherwise.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

HISTORY_S = 10.0
PAUSE_PERIODS = 10
PAUSE_MIN_S = 1.0
STOP_PERIODS = 3
COLLAPSE_RATIO = 0.5
RATE_WINDOW_S = 1.0
RATE_WINDOW_PERIODS = 5
LOSS_WARN = 0.1
MIN_STEPS = 4
STEP_PERCENTILE = 10


@dataclass
class InputReport:
    """One window's summary: level 'OK' or 'WARN', a one-line message and the values."""

    level: str
    message: str
    values: dict = field(default_factory=dict)


def _period(stamps: list, percentile: Optional[float]) -> Optional[float]:
    """Median (or ``percentile``) of the positive steps of ``stamps`` (s); None if too few."""
    steps = np.diff(np.asarray(stamps, dtype=np.float64))
    steps = steps[steps > 0]
    if steps.size < MIN_STEPS:
        return None
    return float(np.percentile(steps, percentile) if percentile is not None
                 else np.median(steps))


class InputRateMonitor:
    """Rate, loss and silence of one image stream; thread-safe.

    timeout_s: silence (s) after which the stream counts as stopped, at least
    ``STOP_PERIODS`` publisher periods.
    """

    def __init__(self, timeout_s: float = 0.5) -> None:
        if not timeout_s > 0:
            raise ValueError(f'timeout_s must be positive, got {timeout_s}')
        self.timeout_s = float(timeout_s)
        self.lock = threading.Lock()
        self.images = deque()        # (arrival monotonic s, header stamp s)
        self.references = deque()    # (arrival monotonic s, camera_info stamp s)
        self.window_start = None
        self.window_count = 0
        self.window_lost = 0
        self.window_ages = []
        self.total_received = 0
        self.total_lost = 0
        self.pauses = 0
        self.last_arrival = None
        self.last_stamp = None

    def add_reference(self, stamp_s: float, arrival_s: float) -> None:
        """Record a camera_info stamp (s) that arrived at monotonic ``arrival_s``."""
        with self.lock:
            if self.references and self.references[-1][1] == stamp_s:
                return
            self.references.append((arrival_s, stamp_s))
            self._trim(self.references, arrival_s)

    def add(self, stamp_s: float, arrival_s: float, age_s: Optional[float] = None) -> None:
        """Record an image stamped ``stamp_s`` arriving at monotonic ``arrival_s``.

        age_s: arrival wall time minus the stamp (s), when the clocks are comparable.
        """
        with self.lock:
            period = self._period()
            if self.last_stamp is not None and period is not None:
                gap = stamp_s - self.last_stamp
                if gap > max(PAUSE_MIN_S, PAUSE_PERIODS * period):
                    self.pauses += 1
                elif gap > 0:
                    lost = max(0, int(round(gap / period)) - 1)
                    self.window_lost += lost
                    self.total_lost += lost
            self.images.append((arrival_s, stamp_s))
            self._trim(self.images, arrival_s)
            self.last_arrival, self.last_stamp = arrival_s, stamp_s
            self.window_count += 1
            self.total_received += 1
            if age_s is not None:
                self.window_ages.append(age_s)

    def _trim(self, samples: deque, now: float) -> None:
        while samples and samples[0][0] < now - HISTORY_S:
            samples.popleft()

    def _period(self) -> Optional[float]:
        """Return the publisher period (s): camera_info stamps first, else the image stamps."""
        period = _period([stamp for _, stamp in self.references], None)
        if period is None:
            period = _period([stamp for _, stamp in self.images], STEP_PERCENTILE)
        return period

    def report(self, now: float) -> InputReport:
        """Summarise the window since the previous report; ``now`` in monotonic seconds."""
        with self.lock:
            start = self.window_start if self.window_start is not None else now
            elapsed = now - start
            count, lost, ages = self.window_count, self.window_lost, self.window_ages
            self.window_start, self.window_count, self.window_lost = now, 0, 0
            self.window_ages = []
            period = self._period()
            silent = None if self.last_arrival is None else now - self.last_arrival
            info_silent = now - self.references[-1][0] if self.references else None
            recent_rate = self._recent_rate(now, period)
            values = {
                'input_rate_hz': count / elapsed if elapsed > 0 else 0.0,
                'publisher_rate_hz': 1.0 / period if period else 0.0,
                'frames_lost_transport': self.total_lost,
                'transport_loss_pct': 100.0 * lost / (count + lost) if count + lost else 0.0,
                'input_silence_s': silent if silent is not None else -1.0,
                'input_age_ms': float(np.median(ages)) * 1000.0 if ages else 0.0,
                'input_pauses': self.pauses,
            }
        return InputReport(*self._judge(values, period, recent_rate, count, lost, info_silent),
                           values)

    def _recent_rate(self, now: float, period: Optional[float]) -> Optional[float]:
        """Return the image rate (Hz) over the last rate window; None while it is not full."""
        if period is None or not self.images:
            return None
        window = max(RATE_WINDOW_S, RATE_WINDOW_PERIODS * period)
        if now - self.images[0][0] < window:
            return None
        return sum(1 for arrival, _ in self.images if arrival > now - window) / window

    def _judge(self, values: dict, period: Optional[float], recent_rate: Optional[float],
               count: int, lost: int, info_silent: Optional[float]) -> tuple:
        rate = values['input_rate_hz']
        silent = values['input_silence_s']
        stop_after = max(self.timeout_s, STOP_PERIODS * period if period else 0.0)
        if silent < 0 or silent > stop_after:
            waited = 'no image received yet' if silent < 0 else f'no image for {silent:.1f} s'
            if info_silent is not None and info_silent <= stop_after:
                return 'WARN', (f'{waited} (input 0 Hz) while camera_info arrives: the images '
                                'are lost in transport (large images: see the README)')
            return 'WARN', waited + (' (input 0 Hz)' if silent < 0 else
                                     ' (input 0 Hz): camera stopped?')
        expected = values['publisher_rate_hz']
        problems = []
        if expected and recent_rate is not None and recent_rate < COLLAPSE_RATIO * expected:
            problems.append(f'input rate collapsed to {recent_rate:.1f} Hz of {expected:.1f} Hz')
        if count + lost and lost / (count + lost) > LOSS_WARN:
            problems.append(f'{values["transport_loss_pct"]:.0f} % of frames lost in transport')
        if problems:
            return 'WARN', '; '.join(problems)
        return 'OK', f'input {rate:.1f} Hz'
