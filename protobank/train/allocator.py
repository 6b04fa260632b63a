"""Keep a training process's peak memory independent of the number of steps an epoch takes.

glibc's malloc serves large blocks (batches, activations) by ``mmap`` and returns them on
``free``, but each such free raises its mmap threshold to the block's size (up to 32 MiB).
From then on blocks of that size come from the heap, whose fragmentation makes the peak
resident memory creep up step after step: a streamed image folder of 3,000 images peaked
higher than one of 500 although no image is kept. Fixing the threshold (``mallopt``) stops the
creep; DataLoader workers forked afterwards inherit it. Other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import platform

M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept fixed


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``nbytes`` for this process; False where not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, nbytes))
    except (OSError, AttributeError):
        return False
