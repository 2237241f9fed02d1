"""NumPy's BLAS, tuned for the embedder's small matrix products: one BLAS thread, and weights laid
out in column blocks where OpenBLAS multiplies small matrices without packing them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

#: float32 arrays: embeddings, weights and activations.
Vectors = npt.NDArray[np.float32]


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, or None without threadpoolctl
    (made once: two threads racing to make it first would each get a working one)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (when threadpoolctl is installed).

    The runtime's matrix products are small; OpenBLAS's spinning worker threads only pay off on
    an idle machine and collapse under CPU contention (a query went 9 ms → 800 ms with two
    threads on a busy 2-core machine).
    """
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


# OpenBLAS's SkylakeX-family cores (also the one it picks for AVX-512 AMD Zen 4) multiply
# without packing the operands when M·N·K <= 100³ (kernel/x86_64/sgemm_small_kernel_permit_
# skylakex.c). A query's GEMMs (13 tokens × 384 × 1152) are just above that, and packing a
# weight matrix that was just read from memory costs as much as the product itself: split into
# column blocks under the limit, the GEMMs of one query take half the time (docs/benchmarks/runtime.md).
_SMALL_GEMM_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
_SMALL_GEMM_LIMIT = 100**3
# Column blocks are sized for inputs of up to this many token rows (a question is typically 10-20
# tokens); narrower blocks would take longer inputs too but run slower on these.
_SMALL_GEMM_ROWS = 20


def blas_has_small_gemm() -> bool:
    """Whether NumPy's BLAS is an OpenBLAS whose core has the small-matrix sgemm kernels."""
    controller = _blas_controller()
    if controller is None:
        return False
    return any(
        str(getattr(library, "architecture", "")).lower() in _SMALL_GEMM_CORES
        for library in controller.select(internal_api="openblas").lib_controllers
    )


def _block_width(inner: int, outer: int) -> int:
    """Columns per block so that inputs of ``_SMALL_GEMM_ROWS`` rows stay under the limit (0: no
    width fits)."""
    for width in (64, 32, 16):
        if outer % width == 0 and _SMALL_GEMM_ROWS * inner * width <= _SMALL_GEMM_LIMIT:
            return width
    return 0


class Linear:
    """``x @ W + bias`` for a 2-D ``x``, with ``W`` laid out once for the BLAS.

    Plain: ``W`` as one contiguous ``(in, out)`` matrix. Blocked (when the BLAS has small-matrix
    kernels): ``W`` as contiguous ``(out / width, in, width)`` column blocks, multiplied in one
    ``np.matmul`` call (NumPy runs one small GEMM per block) while ``rows·in·width`` is under the
    limit; longer inputs (batches at ingestion) use a plain copy made on first need, so a process
    that only answers queries holds one layout, as before.
    """

    __slots__ = ("_blocks", "_plain", "_rows", "bias")

    def __init__(self, weight: Vectors, bias: Vectors, blocked: bool) -> None:
        """``weight`` as ``nn.Linear`` stores it: ``(out, in)``."""
        outer, inner = weight.shape
        width = _block_width(inner, outer) if blocked else 0
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        self._blocks: Vectors | None = None
        self._plain: Vectors | None = None
        # The most input rows whose block products stay under the small-matrix limit.
        self._rows = _SMALL_GEMM_LIMIT // (inner * width) if width else 0
        if width:
            self._blocks = np.ascontiguousarray(
                weight.reshape(outer // width, width, inner).transpose(0, 2, 1), dtype=np.float32
            )
        else:
            self._plain = np.ascontiguousarray(weight.T, dtype=np.float32)

    @property
    def blocked(self) -> bool:
        """Whether short inputs go through the column blocks."""
        return self._blocks is not None

    def plain(self) -> Vectors:
        """``W`` as one contiguous ``(in, out)`` matrix."""
        if self._plain is None:
            blocks = self._blocks
            assert blocks is not None
            count, inner, width = blocks.shape
            self._plain = np.ascontiguousarray(
                blocks.transpose(1, 0, 2).reshape(inner, count * width)
            )
        return self._plain

    def __call__(self, x: Vectors) -> Vectors:
        rows = x.shape[0]
        blocks = self._blocks
        if blocks is not None and rows <= self._rows:
            # One small GEMM per column block (NumPy loops over the stack inside one call).
            output: Vectors = np.matmul(x, blocks).transpose(1, 0, 2).reshape(rows, -1)
        else:
            output = x @ self.plain()
        output += self.bias
        return output
