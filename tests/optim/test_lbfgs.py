"""LBFGS: convergence on Rosenbrock, the two-loop recursion against a NumPy float64 reference
(Nocedal & Wright, Algorithm 7.4/7.5), and its arguments."""
import numpy as np
import pytest

import blaze
from blaze.optim import LBFGS


def rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _closure(opt, x, f):
    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss
    return closure


def test_converges_on_rosenbrock_and_line_search_saves_evaluations():
    evals = {}
    for ls, lr in (("strong_wolfe", 1), (None, 0.5)):
        x = blaze.tensor([-1.5, 2.0], dtype=blaze.float64, requires_grad=True)
        opt = LBFGS([x], lr=lr, line_search_fn=ls, max_iter=500, max_eval=1000, tolerance_grad=1e-10,
                    tolerance_change=1e-14)
        first = float(opt.step(_closure(opt, x, rosenbrock)))
        evals[ls] = opt.state[x]["func_evals"]
        np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-6)
        assert first == 12.5 and float(rosenbrock(x.detach())) < 1e-12
    assert evals["strong_wolfe"] < evals[None] < 1000  # measured: 53 and 84


def ref_lbfgs(x, grad_fn, lr, iters, m):
    """Fixed step lr along the two-loop direction; the first step scaled by min(1, 1/|g|_1);
    H0 = s'y / y'y; a pair is kept only when s'y > 1e-10 (curvature condition)."""
    g = grad_fn(x)
    S, Y = [], []
    d = -g
    gamma = 1.0
    t = g_prev = None  # set by the first iteration, used from the second
    for k in range(iters):
        if k > 0:
            s, y = t * d, g - g_prev
            if s @ y > 1e-10:
                S, Y = (S + [s])[-m:], (Y + [y])[-m:]
                gamma = (s @ y) / (y @ y)
            q = -g.copy()
            alphas = []
            for s_i, y_i in reversed(list(zip(S, Y))):
                a = (s_i @ q) / (y_i @ s_i)
                alphas.append(a)
                q = q - a * y_i
            r = gamma * q
            for (s_i, y_i), a in zip(zip(S, Y), reversed(alphas)):
                b = (y_i @ r) / (y_i @ s_i)
                r = r + s_i * (a - b)
            d = r
        t = min(1.0, 1.0 / np.abs(g).sum()) * lr if k == 0 else lr
        g_prev = g
        x = x + t * d
        g = grad_fn(x)
    return x


@pytest.mark.parametrize("history_size", [2, 100])
def test_two_loop_recursion_matches_reference(history_size):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    A = a @ a.T + 6 * np.eye(6)  # SPD, condition number ~ 10
    b = rng.standard_normal(6)
    x0 = rng.standard_normal(6)
    x = blaze.tensor(x0, requires_grad=True, dtype=blaze.float64)
    At, bt = blaze.tensor(A), blaze.tensor(b)
    opt = LBFGS([x], lr=0.3, max_iter=8, history_size=history_size, tolerance_grad=0, tolerance_change=0)
    opt.step(_closure(opt, x, lambda v: 0.5 * (v @ (At @ v)) - bt @ v))
    want = ref_lbfgs(x0, lambda v: A @ v - b, 0.3, 8, history_size)
    np.testing.assert_allclose(x.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    assert len(opt.state[x]["old_dirs"]) == min(history_size, 7)


def test_several_params_on_cuda_match_cpu():
    """Flattening over several parameters, and the whole step on the cuda device (emulated in CI)."""
    results = []
    for device in ("cpu", "cuda"):
        w = blaze.tensor([[0.5, -0.3], [0.1, 0.2]], device=device, requires_grad=True)
        b = blaze.tensor([0.1, -0.1], device=device, requires_grad=True)
        x = blaze.tensor([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]], device=device)
        y = blaze.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], device=device)
        opt = LBFGS([w, b], line_search_fn="strong_wolfe", max_iter=3)  # each closure ~1 s interpreted

        def closure():
            opt.zero_grad()
            loss = ((x @ w + b - y) ** 2).mean()
            loss.backward()
            return loss
        first = float(opt.step(closure))
        results.append([w.detach().cpu().numpy(), b.detach().cpu().numpy(), float(closure()) / first])
        assert w.device.type == device
    for c, g in zip(results[0][:2], results[1][:2]):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-5)
    assert results[1][2] < 0.5


def test_max_eval_bounds_the_closure_calls():
    x = blaze.tensor([-1.5, 2.0], dtype=blaze.float64, requires_grad=True)
    opt = LBFGS([x], max_iter=50, max_eval=7, line_search_fn="strong_wolfe")
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss
    opt.step(closure)
    assert len(calls) == opt.state[x]["func_evals"] <= 7 + 1  # PyTorch may overshoot by the last trial


def test_stops_at_once_when_already_optimal():
    x = blaze.tensor([1.0, 1.0], dtype=blaze.float64, requires_grad=True)
    opt = LBFGS([x])
    assert float(opt.step(_closure(opt, x, rosenbrock))) == 0.0
    assert opt.state[x]["n_iter"] == 0 and opt.state[x]["func_evals"] == 1


def test_arguments():
    p = [blaze.ones(2, requires_grad=True)]
    assert LBFGS(p, max_iter=8).defaults["max_eval"] == 10
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        LBFGS([{"params": p}, {"params": [blaze.ones(1, requires_grad=True)]}])
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        LBFGS(p, lr=-1)
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS(p, line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="requires a closure"):
        LBFGS(p).step(None)


def test_state_dict_resume_through_blaze_save(tmp_path):
    """The history (lists of flat tensors, floats) survives blaze.save / load and resumes exactly."""
    runs = []
    for _ in range(2):
        x = blaze.tensor([-1.5, 2.0], dtype=blaze.float64, requires_grad=True)
        opt = LBFGS([x], line_search_fn="strong_wolfe", max_iter=8, history_size=4)
        runs.append((x, opt, _closure(opt, x, rosenbrock)))
    (x1, o1, c1), (x2, o2, c2) = runs
    o1.step(c1)
    blaze.save(o1.state_dict(), tmp_path / "lbfgs.ckpt")
    with blaze.no_grad():
        x2.copy_(x1)
    o2.load_state_dict(blaze.load(tmp_path / "lbfgs.ckpt"))
    assert len(o2.state[x2]["old_dirs"]) == len(o1.state[x1]["old_dirs"]) > 0
    for _ in range(3):
        o1.step(c1)
        o2.step(c2)
    np.testing.assert_array_equal(x1.detach().numpy(), x2.detach().numpy())
