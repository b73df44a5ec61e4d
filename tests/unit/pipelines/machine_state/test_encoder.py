"""The `minirocket_summary` window encoder: shape, determinism, level sensitivity, edge cases."""

import numpy as np
import pytest

from jobport.pipelines.builtin.machine_state.encoder import N_KERNELS, Encoder


def windows(n: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(w)[None, :, None]
    freq = rng.uniform(0.05, 0.3, (n, 1, c))
    return (np.sin(2 * np.pi * freq * t) + rng.normal(0, 0.2, (n, w, c))).astype(np.float32)


@pytest.mark.parametrize("w,c", [(32, 6), (128, 6), (16, 1), (8, 3), (2, 2)])
def test_shape_dtype_and_finite(w, c):
    enc = Encoder.fit(windows(50, w, c), seed=0)
    feats = enc.transform(windows(7, w, c, seed=1))
    assert feats.shape == (7, enc.dim)
    assert feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert enc.n_conv_features % N_KERNELS == 0
    assert enc.dim <= 4096


def test_deterministic_for_a_seed():
    ref, x = windows(100, 32, 6), windows(20, 32, 6, seed=5)
    a = Encoder.fit(ref, seed=3).transform(x)
    b = Encoder.fit(ref, seed=3).transform(x)
    c = Encoder.fit(ref, seed=4).transform(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batches_are_independent():
    enc = Encoder.fit(windows(100, 32, 4), seed=0)
    x = windows(10, 32, 4, seed=2)
    whole = enc.transform(x)
    pieces = np.concatenate([enc.transform(x[i : i + 3]) for i in range(0, 10, 3)])
    np.testing.assert_allclose(whole, pieces, atol=1e-5)


def test_level_and_amplitude_are_kept():
    """No per-window z-normalisation: a shifted or scaled copy of a window must encode differently."""
    enc = Encoder.fit(windows(100, 32, 3), seed=0)
    x = windows(1, 32, 3, seed=9)
    base, shifted, scaled = enc.transform(np.concatenate([x, x + 2.0, x * 3.0]))
    assert not np.allclose(base, shifted)
    assert not np.allclose(base, scaled)


def test_constant_windows_do_not_produce_nan():
    enc = Encoder.fit(np.ones((20, 16, 2), np.float32), seed=0)
    assert np.isfinite(enc.transform(np.full((3, 16, 2), 5.0, np.float32))).all()


def test_wrong_shape_is_rejected():
    enc = Encoder.fit(windows(20, 16, 2), seed=0)
    with pytest.raises(ValueError, match=r"\[n, 16, 2\]"):
        enc.transform(windows(2, 16, 3))
