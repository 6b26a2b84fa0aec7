"""Shared by the benchmarks: the machine they ran on and a wall-clock timer."""
import os
import platform
import statistics
import time

import torch


def machine_description() -> str:
    """'CPU model, N cores, torch X, T intra-op threads' for benchmark headers."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return (f'{model}, {os.cpu_count()} cores, torch {torch.__version__}, '
            f'{torch.get_num_threads()} intra-op threads')


def time_ms(function, runs: int, warmup: int = 3) -> tuple:
    """(median, p95) wall time of ``function()`` in milliseconds over ``runs`` calls."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]
