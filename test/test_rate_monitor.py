"""Input rate, transport loss and silence of a camera stream, on synthetic timelines."""
import numpy as np
import pytest

from hpm_ros.rate_monitor import InputRateMonitor

RATE = 30.0


def feed(monitor, times, stamps=None, info=False, delay=0.004):
    """Frames stamped ``stamps`` (default: ``times``) arriving ``delay`` s after capture."""
    stamps = times if stamps is None else stamps
    for t, stamp in zip(times, stamps):
        if info:
            monitor.add_reference(stamp, t + 0.001)
        monitor.add(stamp, t + delay, delay)


def test_a_steady_camera_is_ok_with_its_rate_and_no_loss():
    monitor = InputRateMonitor()
    monitor.report(0.0)
    times = np.arange(60) / RATE
    feed(monitor, times)
    report = monitor.report(2.0)
    assert report.level == 'OK', report.message
    assert report.values['input_rate_hz'] == pytest.approx(30.0)
    assert report.values['publisher_rate_hz'] == pytest.approx(30.0, rel=1e-6)
    assert report.values['frames_lost_transport'] == 0
    assert report.values['transport_loss_pct'] == 0.0
    assert report.values['input_age_ms'] == pytest.approx(4.0)


def test_losses_are_counted_from_stamp_gaps_and_warned_above_ten_percent():
    monitor = InputRateMonitor()
    monitor.report(0.0)
    published = np.arange(300) / RATE
    kept = np.random.default_rng(0).random(300) > 0.25
    kept[:8] = True  # the period is known from the fifth frame on
    feed(monitor, published[kept])
    report = monitor.report(10.0)
    lost = int((~kept[:np.flatnonzero(kept)[-1]]).sum())
    assert lost > 60
    assert report.values['frames_lost_transport'] == lost
    assert report.values['transport_loss_pct'] == pytest.approx(100.0 * lost / 300, abs=1.0)
    assert report.level == 'WARN' and 'lost in transport' in report.message


def test_camera_info_gives_the_period_when_almost_every_image_is_lost():
    """The issue's 1280x720 case: 3 % of the frames arrive, camera_info (small) all of it."""
    monitor = InputRateMonitor()
    monitor.report(0.0)
    published = np.arange(150) / RATE
    for index, t in enumerate(published):
        monitor.add_reference(t, t + 0.001)
        if index % 30 == 0:
            monitor.add(t, t + 0.02)
    report = monitor.report(published[-1] + 0.01)
    assert report.values['publisher_rate_hz'] == pytest.approx(RATE)
    assert report.values['frames_lost_transport'] == 4 * 29
    assert report.values['transport_loss_pct'] > 95
    assert report.level == 'WARN' and 'lost in transport' in report.message


def test_no_image_at_all_is_not_ok_and_says_why_when_camera_info_arrives():
    monitor = InputRateMonitor()
    first = monitor.report(0.0)
    assert first.level == 'WARN' and 'no image received yet' in first.message
    assert first.values['input_rate_hz'] == 0.0
    for t in np.arange(30) / RATE:
        monitor.add_reference(t, t)
    report = monitor.report(1.0)
    assert report.level == 'WARN' and 'lost in transport' in report.message


def test_a_camera_that_stops_turns_to_warn_after_the_timeout():
    monitor = InputRateMonitor(timeout_s=0.5)
    monitor.report(0.0)
    times = np.arange(30) / RATE
    feed(monitor, times)
    last = times[-1]
    assert monitor.report(last + 0.4).level == 'OK'
    report = monitor.report(last + 0.6)
    assert report.level == 'WARN' and 'no image for 0.6 s' in report.message
    assert report.values['input_rate_hz'] == 0.0
    assert report.values['input_silence_s'] == pytest.approx(0.6, abs=0.01)


def test_a_slow_camera_stops_only_after_three_of_its_periods():
    monitor = InputRateMonitor(timeout_s=0.5)
    monitor.report(0.0)
    times = np.arange(10) * 0.5  # 2 Hz
    feed(monitor, times)
    assert monitor.report(times[-1] + 1.4).level == 'OK'
    assert monitor.report(times[-1] + 1.6).level == 'WARN'


def test_pauses_and_clock_resets_are_not_losses():
    monitor = InputRateMonitor()
    monitor.report(0.0)
    first = np.arange(30) / RATE
    feed(monitor, first)
    feed(monitor, first + 5.0)        # 5 s pause, then the camera goes on
    feed(monitor, first[:10] + 6.5, first[:10])   # a bag replayed from its start
    report = monitor.report(7.0)
    assert report.values['frames_lost_transport'] == 0
    assert report.values['input_pauses'] == 1


def test_a_rate_collapse_without_stamp_gaps_warns():
    """The camera itself slows down (e.g. exposure): no loss, but the rate falls."""
    monitor = InputRateMonitor()
    monitor.report(0.0)
    steady = np.arange(30) / RATE
    feed(monitor, steady, info=True)
    monitor.report(1.0)
    slow = 1.0 + np.arange(5) * 0.2
    for t in slow:
        monitor.add_reference(t, t)
    feed(monitor, slow[::4])
    report = monitor.report(2.0)
    assert report.level == 'WARN' and 'collapsed' in report.message


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match='timeout_s'):
        InputRateMonitor(timeout_s=0.0)


def test_short_report_periods_do_not_raise_false_collapses():
    """10 Hz delivered in bursts of three frames, reported every 0.25 s: some report windows
    hold no frame at all, yet the stream is complete."""
    monitor = InputRateMonitor()
    monitor.report(0.0)
    capture = np.arange(99) / 10.0
    arrivals = capture.reshape(-1, 3).max(axis=1).repeat(3) + 0.01
    levels, index = [], 0
    for now in np.arange(0.25, 10.0, 0.25):
        while index < capture.size and arrivals[index] <= now:
            monitor.add(capture[index], arrivals[index])
            index += 1
        levels.append(monitor.report(now))
    assert all(report.level == 'OK' for report in levels[8:]), [
        report.message for report in levels if report.level != 'OK']
    assert min(r.values['input_rate_hz'] for r in levels[8:]) == 0.0
