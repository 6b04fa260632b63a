import numpy as np
import pytest

import protobank
from protobank.errors import InvalidInputError, MethodNotApplicableError, ResourceLimitError, UnknownMethodError


@pytest.mark.parametrize("method", ["minimax", "gaussian", "hpn", "etf", "random"])
def test_every_method_returns_unit_rows(method):
    p = protobank.generate(8, 9, method=method, seed=1, iters=20)
    assert p.vectors.shape == (9, 8)
    np.testing.assert_allclose(np.linalg.norm(p.vectors, axis=1), 1, atol=1e-12)
    assert p.metrics["max_cosine"] == pytest.approx(protobank.geometry(p.vectors).max_cosine)


@pytest.mark.parametrize("c,d", [(5, 4), (11, 10), (100, 200)])
def test_etf_is_the_simplex(c, d):
    p = protobank.generate(d, c, method="etf", seed=7)
    assert p.metrics["max_cosine"] == pytest.approx(-1 / (c - 1), abs=1e-9)
    assert p.metrics["min_cosine"] == pytest.approx(-1 / (c - 1), abs=1e-9)


def test_etf_refuses_too_many_classes():
    with pytest.raises(MethodNotApplicableError, match=r"c <= d \+ 1"):
        protobank.generate(10, 100, method="etf")


def test_gaussian_paper_settings_reach_its_published_quality():
    p = protobank.generate(50, 100, method="gaussian", seed=0)
    loss = p.history["loss"]
    assert loss[-1] < loss[0]
    assert p.metrics["max_cosine"] < 0.3
    assert p.method_params == {"t": 2.0, "lr": 0.1, "subset": 100, "momentum": 0.0, "self_pairs": False, "optimizer": "sgd", "dtype": "float32"}
    assert p.iterations == 1000


def test_gaussian_subset_is_used():
    p = protobank.generate(6, 40, method="gaussian", seed=0, iters=50, subset=10)
    assert p.method_params["subset"] == 10


@pytest.mark.parametrize("method,kw", [("gaussian", {"subset": 7}), ("hpn", {}), ("minimax", {})])
def test_same_seed_is_bitwise_reproducible(method, kw):
    a = protobank.generate(3, 14, method=method, seed=5, iters=60, **kw)
    b = protobank.generate(3, 14, method=method, seed=5, iters=60, **kw)
    assert a.vectors.tobytes() == b.vectors.tobytes()
    assert a.content_sha256 == b.content_sha256
    c = protobank.generate(3, 14, method=method, seed=6, iters=60, **kw)
    assert c.content_sha256 != a.content_sha256


@pytest.mark.parametrize(
    "args,kwargs,error",
    [
        ((0, 10), {}, InvalidInputError),
        ((3, 1), {}, InvalidInputError),
        ((3.5, 10), {}, InvalidInputError),
        ((True, 10), {}, InvalidInputError),
        ((3, 10), {"method": "gausian"}, UnknownMethodError),
        ((3, 10), {"seed": -1}, InvalidInputError),
        ((3, 10), {"iters": 0}, InvalidInputError),
        ((3, 10), {"method": "gaussian", "lr": -1.0}, InvalidInputError),
        ((3, 10), {"method": "gaussian", "sbset": 3}, InvalidInputError),
        ((3, 10), {"device": "tpu"}, InvalidInputError),
    ],
)
def test_bad_input_is_named(args, kwargs, error):
    with pytest.raises(error):
        protobank.generate(*args, **kwargs)


def test_unknown_method_suggests():
    with pytest.raises(UnknownMethodError, match="Did you mean 'gaussian'"):
        protobank.generate(3, 10, method="gausian")


def test_dense_methods_refuse_what_cannot_fit():
    with pytest.raises(ResourceLimitError, match="GiB"):
        protobank.generate(8, 10_000_000, method="hpn")


def test_memory_is_what_linux_can_hand_out(tmp_path, monkeypatch):
    """MemAvailable (free + reclaimable page cache), not MemFree, which a page cache keeps small."""
    import torch

    from protobank.optimize import base

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       131072000 kB\nMemFree:          1024000 kB\nMemAvailable:   96000000 kB\n")
    monkeypatch.setattr(base, "MEMINFO", str(meminfo))
    assert base.available_memory(torch.device("cpu")) == 96000000 * 1024
    monkeypatch.setattr(base, "MEMINFO", str(tmp_path / "absent"))  # other systems: sysconf
    assert base.available_memory(torch.device("cpu")) > 0


def test_progress_trace_works_in_blocks(monkeypatch):
    import torch

    from protobank.optimize import _torch

    w = torch.as_tensor(protobank.generate(5, 37, method="random").to_numpy(), dtype=torch.float32)
    dense = w @ w.T
    dense.fill_diagonal_(-2.0)
    monkeypatch.setattr(_torch, "TRACE_BLOCK_ELEMENTS", 37 * 4)  # blocks of 4 rows
    assert _torch.max_offdiag_cosine(w) == float(dense.max())
    sizes = []
    real_matmul = torch.Tensor.__matmul__
    monkeypatch.setattr(torch.Tensor, "__matmul__", lambda a, b: sizes.append(a.shape[0] * b.shape[1]) or real_matmul(a, b))
    _torch.max_offdiag_cosine(w)
    assert max(sizes) <= 37 * 4


def test_prototypes_to_torch():
    import torch

    p = protobank.generate(4, 6, method="random")
    t = p.to_torch(dtype=torch.float64)
    assert t.shape == (6, 4) and torch.equal(t, torch.from_numpy(p.to_numpy()))
    assert "Prototypes(d=4, c=6, method='random'" in repr(p)
