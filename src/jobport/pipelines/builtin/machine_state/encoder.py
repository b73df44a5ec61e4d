"""The `minirocket_summary` window encoder: MiniRocket-style convolution features plus summary stats.

Plain NumPy, no compile step. A window is an array `[window, channels]`; `transform` maps a batch
`[n, window, channels]` to float32 features `[n, dim]`:

- Convolution block (Dempster et al., MiniRocket, 2021): the 84 fixed length-9 kernels (weights
  -1, with three taps of 2) at a few dilations, each applied to the sum of a random subset of
  channels, pooled as the proportion of positive values (PPV) of `conv - bias` at biases taken from
  quantiles of the convolution of reference windows. Half the (dilation, kernel) pairs pool over the
  zero-padded output, half over the valid part only, as in MiniRocket. Per dilation the whole
  kernel bank is one matrix product: windows unfolded to `[n*window, 9*channels]` @ `[9*channels, 84]`.
- Summary block per channel: mean, std, min, max, 5 quantiles, slope, lag-1 autocorrelation, mean
  absolute step, 4 FFT band energies; plus the pairwise channel correlations.

Windows are never z-normalised one by one: machine states often differ only by level or amplitude.
Channels are shifted and scaled by constants fitted on the reference windows (so sensors in
different units weigh alike and float32 keeps its precision); that keeps level differences intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

KERNEL_LENGTH = 9
# The 84 MiniRocket kernels: every choice of 3 of the 9 taps gets weight 2, the other six -1.
KERNEL_TAPS = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.int64)
N_KERNELS = len(KERNEL_TAPS)
SUMMARY_QUANTILES = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
FFT_BANDS = 4


def _kernel_weights() -> np.ndarray:
    """`[9, 84]`: tap j of kernel k."""
    w = -np.ones((KERNEL_LENGTH, N_KERNELS), dtype=np.float32)
    w[KERNEL_TAPS.T, np.arange(N_KERNELS)] = 2.0
    return w


def _low_discrepancy_quantiles(n: int) -> np.ndarray:
    return ((np.arange(1, n + 1) * ((np.sqrt(5) + 1) / 2)) % 1).astype(np.float64)


def _fit_dilations(window: int, features_per_kernel: int, max_dilations: int) -> tuple[np.ndarray, np.ndarray]:
    """MiniRocket's dilation schedule: exponentially spaced, more features on small dilations."""
    n_dil = max(1, min(features_per_kernel, max_dilations))
    max_exponent = max(0.0, np.log2((window - 1) / (KERNEL_LENGTH - 1)))
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, n_dil, base=2).astype(np.int64), return_counts=True
    )
    counts = (counts * (features_per_kernel / n_dil)).astype(np.int64)
    for i in range(features_per_kernel - int(counts.sum())):
        counts[i % len(counts)] += 1
    return dilations, counts


def _unfold(x: np.ndarray, dilation: int) -> np.ndarray:
    """`[n, w, c]` -> `[n*w, 9*c]`: the 9 dilated taps around each position, zero-padded."""
    n, w, c = x.shape
    pad = 4 * dilation
    xp = np.zeros((n, w + 2 * pad, c), dtype=np.float32)
    xp[:, pad : pad + w] = x
    taps = np.stack([xp[:, j * dilation : j * dilation + w] for j in range(KERNEL_LENGTH)], axis=2)
    return taps.reshape(n * w, KERNEL_LENGTH * c)


@dataclass
class _DilationBank:
    dilation: int
    kernels: np.ndarray  # [9*channels, 84], columns ordered: padded kernels first
    n_padded: int
    biases: np.ndarray  # [84, features_per_kernel at this dilation]


class Encoder:
    """Fitted once on reference windows (`Encoder.fit`), then `transform` any number of batches."""

    def __init__(
        self,
        window_size: int,
        n_channels: int,
        offset: np.ndarray,
        scale: np.ndarray,
        banks: list[_DilationBank],
    ) -> None:
        self.window_size = window_size
        self.n_channels = n_channels
        self.offset = offset.astype(np.float32)
        self.scale = scale.astype(np.float32)
        self.banks = banks
        self.n_conv_features = sum(b.biases.size for b in banks)
        c = n_channels
        self.n_summary_features = c * (4 + len(SUMMARY_QUANTILES) + 3 + FFT_BANDS) + c * (c - 1) // 2

    @property
    def dim(self) -> int:
        return self.n_conv_features + self.n_summary_features

    @classmethod
    def fit(
        cls,
        reference_windows: np.ndarray,
        seed: int = 0,
        num_features: int = 84 * 24,
        max_dilations_per_kernel: int = 32,
    ) -> Encoder:
        ref = np.asarray(reference_windows, dtype=np.float32)
        if ref.ndim != 3 or ref.shape[0] == 0:
            raise ValueError(f"reference windows must be [n>0, window, channels], got {ref.shape}")
        rng = np.random.default_rng(seed)
        n_ref, window, n_ch = ref.shape
        offset = ref.mean(axis=(0, 1), dtype=np.float64)
        scale = ref.std(axis=(0, 1), dtype=np.float64)
        scale[~(scale > 1e-12)] = 1.0
        ref = (ref - offset.astype(np.float32)) / scale.astype(np.float32)

        weights = _kernel_weights()
        dilations, per_dilation = _fit_dilations(window, max(1, num_features // N_KERNELS), max_dilations_per_kernel)
        quantiles = _low_discrepancy_quantiles(int(per_dilation.sum()) * N_KERNELS)
        max_ch = min(n_ch, KERNEL_LENGTH)
        banks: list[_DilationBank] = []
        q_start = 0
        for d_index, (dilation, n_bias) in enumerate(zip(dilations.tolist(), per_dilation.tolist(), strict=False)):
            # Random channel subset per kernel (size 1..min(channels, 9), log-uniform like MiniRocket).
            sizes = (2 ** rng.uniform(0, np.log2(max_ch + 1), N_KERNELS)).astype(np.int64).clip(1, max_ch)
            mask = np.zeros((N_KERNELS, n_ch), dtype=np.float32)
            for k, size in enumerate(sizes):
                mask[k, rng.choice(n_ch, size, replace=False)] = 1.0
            kernels = (weights[:, None, :] * mask.T[None, :, :]).reshape(KERNEL_LENGTH * n_ch, N_KERNELS)

            pad = 4 * dilation
            has_valid = window - 2 * pad > 0
            padded = np.array([(d_index + k) % 2 == 0 or not has_valid for k in range(N_KERNELS)])
            order = np.concatenate([np.flatnonzero(padded), np.flatnonzero(~padded)])
            kernels = np.ascontiguousarray(kernels[:, order])
            n_padded = int(padded.sum())

            # Biases: quantiles of each kernel's output on one random reference window.
            examples = rng.integers(0, n_ref, N_KERNELS)
            conv = (_unfold(ref[examples], dilation) @ kernels).reshape(N_KERNELS, window, N_KERNELS)
            outputs = conv[np.arange(N_KERNELS), :, np.arange(N_KERNELS)]  # [kernel, window]
            q = quantiles[q_start : q_start + N_KERNELS * n_bias].reshape(N_KERNELS, n_bias)
            q_start += N_KERNELS * n_bias
            biases = np.empty((N_KERNELS, n_bias), dtype=np.float32)
            for k in range(N_KERNELS):
                out = outputs[k] if k < n_padded else outputs[k, pad : window - pad]
                biases[k] = np.quantile(out, q[k])
            banks.append(_DilationBank(dilation, kernels, n_padded, biases))
        return cls(window, n_ch, offset, scale, banks)

    def transform(self, windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (self.window_size, self.n_channels):
            raise ValueError(
                f"windows must be [n, {self.window_size}, {self.n_channels}], got {list(x.shape)}"
            )
        x = (x - self.offset) / self.scale
        return np.concatenate([self._convolution_features(x), self._summary_features(x)], axis=1)

    def _convolution_features(self, x: np.ndarray) -> np.ndarray:
        n, w, _ = x.shape
        out = []
        for bank in self.banks:
            conv = (_unfold(x, bank.dilation) @ bank.kernels).reshape(n, w, N_KERNELS)
            p, k = bank.n_padded, 4 * bank.dilation
            b = bank.biases
            out.append((conv[:, :, :p, None] > b[None, None, :p]).mean(axis=1, dtype=np.float32).reshape(n, -1))
            if p < N_KERNELS:
                valid = conv[:, k : w - k, p:, None]
                out.append((valid > b[None, None, p:]).mean(axis=1, dtype=np.float32).reshape(n, -1))
        return np.concatenate(out, axis=1)

    def _summary_features(self, x: np.ndarray) -> np.ndarray:
        n, w, c = x.shape
        mean = x.mean(axis=1)
        centred = x - mean[:, None, :]
        var = (centred**2).mean(axis=1)
        std = np.sqrt(var)
        quantiles = np.quantile(x, SUMMARY_QUANTILES, axis=1)  # [q, n, c]
        t = np.arange(w, dtype=np.float32) - (w - 1) / 2
        slope = np.einsum("t,ntc->nc", t, centred) / max(float((t**2).sum()), 1e-12)
        safe_var = np.where(var > 1e-12, var, 1.0)
        acf1 = np.where(var > 1e-12, (centred[:, 1:] * centred[:, :-1]).mean(axis=1) / safe_var, 0.0)
        step = np.abs(np.diff(x, axis=1)).mean(axis=1)
        power = np.abs(np.fft.rfft(centred, axis=1)[:, 1:]) ** 2 / (w * w)  # drop the DC bin
        bands = [
            power[:, idx].sum(axis=1) if len(idx) else np.zeros((n, c), np.float32)
            for idx in np.array_split(np.arange(power.shape[1]), FFT_BANDS)
        ]
        feats = [mean, std, x.min(axis=1), x.max(axis=1), *quantiles, slope, acf1, step]
        feats += [np.log1p(b) for b in bands]
        if c > 1:
            i, j = np.triu_indices(c, 1)
            cov = np.einsum("nti,ntj->nij", centred, centred)[:, i, j] / w
            denom = std[:, i] * std[:, j]
            feats.append(np.where(denom > 1e-12, cov / np.where(denom > 1e-12, denom, 1.0), 0.0))
        return np.concatenate([np.asarray(f, dtype=np.float32).reshape(n, -1) for f in feats], axis=1)
