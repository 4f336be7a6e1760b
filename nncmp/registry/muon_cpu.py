"""pytorch-optimizer's Muon, with its Newton–Schulz iteration in float32 on a CPU without native bfloat16.

pytorch-optimizer 4.1's Muon orthogonalises every update with `zero_power_via_newton_schulz_5` (or the Gram
variant) at that function's default dtype, bfloat16 (float16 for the Gram variant), and gives no way to choose
another. A CPU without bfloat16 instructions (no AVX512-BF16, no AMX: an AVX2 machine such as the AMD EPYC
nncmp is developed on) emulates bfloat16 products: measured there on one thread, the iteration took 356 ms for
the course MLP's 256×784 matrix against 14 ms in float32 (44 ms against 1.4 ms for the 128×256 one), and a
whole Muon step 375–413 ms against 14–27 ms in float32 and AdamW's 1.6–2.6 ms (issue 29 measured 0.71 s a
step) — too slow to compare anything. So on such a CPU this class runs
the iteration in float32: more precise than the library's bfloat16 (its update differs by bfloat16's rounding,
which Newton–Schulz is meant to tolerate), and the same arithmetic as the library's with dtype=float32 passed
by hand. On a GPU, or a CPU with native bfloat16, the library's own code runs unchanged. `nncmp optimizers`
shows the deviation as the handling word `ns-float32-cpu` (optimizers.NS_FLOAT32).

Imported only when a run builds this optimizer (registry/optimizers.py names it): it imports torch.
"""

from __future__ import annotations

import functools

import torch
from pytorch_optimizer.base.type import ParamGroup
from pytorch_optimizer.optimizer.muon.muon import Muon as LibraryMuon
from pytorch_optimizer.optimizer.utils.matrix import (
    zero_power_via_gram_newton_schulz,
    zero_power_via_newton_schulz_5,
)

# torch's checks for the CPU instructions that make bfloat16 products native (private: looked up, not assumed).
NATIVE_BF16_CHECKS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively, as far as torch can tell (False where it cannot: float32 is
    never the slow path, at worst about twice bfloat16's time on such a CPU)."""
    checks = [getattr(torch.cpu, name, None) for name in NATIVE_BF16_CHECKS]
    return any(bool(check()) for check in checks if callable(check))


def float32_here(updates: list[torch.Tensor]) -> bool:
    """Whether these updates are orthogonalised in float32: on a CPU without native bfloat16."""
    return bool(updates) and all(u.device.type == "cpu" for u in updates) and not native_bf16()


class Muon(LibraryMuon):
    """Momentum updates with Newton-Schulz matrix orthogonalization (float32 on a CPU without native bfloat16)."""

    @staticmethod
    def _orthogonalize(group: ParamGroup, updates: list[torch.Tensor]) -> list[torch.Tensor]:
        if not float32_here(updates):
            return LibraryMuon._orthogonalize(group, updates)
        # The library's MuonBase._orthogonalize (4.1) with dtype=float32 passed to the iteration; the distributed
        # (DTensor) branch is left out: a DTensor never lives on a plain CPU run. test_muon_cpu.py checks this
        # against the library's own method with the dtype passed by hand.
        matrices = [update.reshape(update.size(0), -1) for update in updates]
        transposed = [matrix.size(0) > matrix.size(1) for matrix in matrices]
        matrix = matrices[0] if len(matrices) == 1 else torch.stack([
            matrix.mT if transpose else matrix for matrix, transpose in zip(matrices, transposed, strict=True)])
        if group.get("ns_method") == "gram_newton_schulz":
            result = zero_power_via_gram_newton_schulz(matrix, num_steps=group["ns_steps"], weights=group["ns_coeffs"],
                                                       reset_steps=group["ns_reset_steps"], dtype=torch.float32)
        else:
            result = zero_power_via_newton_schulz_5(matrix, num_steps=group["ns_steps"], weights=group["ns_coeffs"],
                                                    dtype=torch.float32)
        return [result] if len(matrices) == 1 else [
            update.mT if transpose else update for update, transpose in zip(result.unbind(), transposed, strict=True)]
