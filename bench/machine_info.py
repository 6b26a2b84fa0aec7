"""One line naming the machine a benchmark ran on (CPU model, cores, torch, threads)."""
import os
import platform

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
