"""Adam and Lamb against hand-computed steps (Adam also against torch.optim.Adam), the optimizer factory, and the
learning-rate schedules."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from sample_factory.algo.learning.lr_schedules import (
    LrSchedule,
    kl_adaptive_lr,
    linear_decay_lr,
    linear_decay_steps,
)
from sample_factory.algo.learning.optimizers import Adam, Lamb, make_optimizer
from sample_factory.algo.utils.optimizers import Lamb as LambReexport


def test_lamb_first_step_hand():
    # after one step with bias correction: m^ = g, v^ = g^2 -> u = g / (|g| + eps) ~ sign(g)
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))  # ||w|| = 5
    w.grad = torch.tensor([0.5, -2.0])
    eps = 1e-6
    Lamb([w], lr=0.1, betas=(0.9, 0.999), eps=eps).step()
    u = torch.tensor([0.5 / (0.5 + eps), -2.0 / (2.0 + eps)])
    trust = 5.0 / float(u.norm())
    expected = torch.tensor([3.0, 4.0]) - 0.1 * trust * u
    assert torch.allclose(w.detach(), expected, atol=1e-6)
    # sanity: the step length equals lr * ||w||
    assert math.isclose(float((torch.tensor([3.0, 4.0]) - w.detach()).norm()), 0.5, rel_tol=1e-5)


def test_lamb_second_step_and_weight_decay_hand():
    b1, b2, eps, lr, wd = 0.9, 0.99, 1e-8, 0.01, 0.1
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 2.0]))
    opt = Lamb([w], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    w_ref = torch.tensor([1.0, -2.0, 2.0])
    m, v = torch.zeros(3), torch.zeros(3)
    for t, g in enumerate([torch.tensor([1.0, 0.0, -1.0]), torch.tensor([-0.5, 2.0, 0.5])], start=1):
        w.grad = g.clone()
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        u = (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps) + wd * w_ref
        w_ref = w_ref - lr * (w_ref.norm() / u.norm()) * u
    assert torch.allclose(w.detach(), w_ref, atol=1e-6)
    assert set(opt.state[w]) == {"step", "exp_avg", "exp_avg_sq"}


def test_lamb_zero_weights_use_trust_one():
    w = torch.nn.Parameter(torch.zeros(2))
    w.grad = torch.tensor([1.0, -1.0])
    Lamb([w], lr=0.1, eps=0.0).step()
    assert torch.allclose(w.detach(), torch.tensor([-0.1, 0.1]))


def test_lamb_state_dict_roundtrip():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = Lamb([w], lr=0.1)
    w.grad = torch.tensor([0.1, 0.2])
    opt.step()
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = Lamb([w2], lr=0.1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # in memory, state tensors would be shared
    for p, o in ((w, opt), (w2, opt2)):
        p.grad = torch.tensor([0.3, -0.1])
        o.step()
    assert torch.allclose(w, w2)
    assert LambReexport is Lamb


def test_make_optimizer():
    cfg = SimpleNamespace(optimizer="adam", learning_rate=1e-3, adam_beta1=0.8, adam_beta2=0.9, adam_eps=1e-5)
    params = [torch.nn.Parameter(torch.ones(2))]
    opt = make_optimizer(cfg, params)
    assert isinstance(opt, Adam)
    assert opt.param_groups[0]["betas"] == (0.8, 0.9) and opt.param_groups[0]["eps"] == 1e-5
    cfg.optimizer = "lamb"
    assert isinstance(make_optimizer(cfg, params), Lamb)
    cfg.optimizer = "sgd"
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer(cfg, params)


def test_kl_adaptive_lr():
    thr = 0.01
    assert math.isclose(kl_adaptive_lr(1e-3, 0.03, thr, 1e-6, 1e-2), 1e-3 / 1.5)  # KL > 2*thr
    assert math.isclose(kl_adaptive_lr(1e-3, 0.001, thr, 1e-6, 1e-2), 1.5e-3)  # KL < 0.5*thr
    assert kl_adaptive_lr(1e-3, 0.01, thr, 1e-6, 1e-2) == 1e-3  # in band
    assert kl_adaptive_lr(1e-6, 1.0, thr, 1e-6, 1e-2) == 1e-6  # floor
    assert kl_adaptive_lr(9e-3, 0.0, thr, 1e-6, 1e-2) == 1e-2  # cap


def test_linear_decay():
    assert linear_decay_steps(10_000, 100, 2) == 200
    assert linear_decay_lr(1.0, 0, 200) == 1.0
    assert math.isclose(linear_decay_lr(1.0, 50, 200), 0.75)
    assert linear_decay_lr(1.0, 200, 200) == 0.0 and linear_decay_lr(1.0, 500, 200) == 0.0


def make_cfg(schedule):
    return SimpleNamespace(
        lr_schedule=schedule, learning_rate=1e-3, lr_schedule_kl_threshold=0.01, lr_adaptive_min=1e-6,
        lr_adaptive_max=1e-2, train_for_env_steps=1000, batch_size=10, num_epochs=1,
    )  # fmt: skip


def test_lr_schedule_dispatch():
    const = LrSchedule(make_cfg("constant"))
    assert const.after_minibatch(1e-3, 1.0, 5) == 1e-3 and const.after_epoch(1e-3, [1.0]) == 1e-3
    mb = LrSchedule(make_cfg("kl_adaptive_minibatch"))
    assert math.isclose(mb.after_minibatch(1e-3, 1.0, 5), 1e-3 / 1.5) and mb.after_epoch(1e-3, [1.0]) == 1e-3
    ep = LrSchedule(make_cfg("kl_adaptive_epoch"))
    assert ep.after_minibatch(1e-3, 1.0, 5) == 1e-3
    assert math.isclose(ep.after_epoch(1e-3, [0.0, 0.002]), 1.5e-3)  # mean 0.001 < 0.005
    lin = LrSchedule(make_cfg("linear_decay"))  # 1000 // 10 * 1 = 100 steps
    assert math.isclose(lin.after_minibatch(1e-3, 0.0, 25), 0.75e-3)
    with pytest.raises(ValueError, match="lr_schedule"):
        LrSchedule(make_cfg("cosine"))


def _twin_params(seed: int = 0) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    g = torch.Generator().manual_seed(seed)
    ours = [torch.nn.Parameter(torch.randn(5, 3, generator=g)), torch.nn.Parameter(torch.randn(3, generator=g))]
    return ours, [torch.nn.Parameter(p.detach().clone()) for p in ours]


def _same_grads(a: list[torch.nn.Parameter], b: list[torch.nn.Parameter], seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for p, q in zip(a, b):
        grad = torch.randn(p.shape, generator=g)
        p.grad, q.grad = grad.clone(), grad.clone()


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_matches_torch_adam(weight_decay):
    ours, theirs = _twin_params()
    kw = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-6, weight_decay=weight_decay)
    a, b = Adam(ours, **kw), torch.optim.Adam(theirs, **kw)
    for i in range(6):
        _same_grads(ours, theirs, i)
        a.step()
        b.step()
    for p, q, start in zip(ours, theirs, _twin_params()[0]):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
        assert not torch.equal(p, start)  # the parameters did move


def test_adam_first_step_hand():
    # t=1: m = (1-b1) g, v = (1-b2) g^2, m^ = g, v^ = g^2 -> w -= lr * g / (|g| + eps)
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    p.grad = torch.tensor([0.5, -4.0])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([1.0 - 0.1, -2.0 + 0.1]), rtol=0, atol=1e-6)
    assert float(opt.state[p]["step"]) == 1.0


def test_adam_state_dict_moves_between_ours_and_torch():
    ours, theirs = _twin_params()
    b = torch.optim.Adam(theirs, lr=3e-3)
    _same_grads(theirs, theirs, 0)
    b.step()
    a = Adam(ours, lr=1.0)
    a.load_state_dict(b.state_dict())
    assert a.param_groups[0]["lr"] == 3e-3 and float(a.state[ours[0]]["step"]) == 1.0
    # one more identical step on both sides stays identical
    for p, q in zip(ours, theirs):
        p.data.copy_(q.data)
    _same_grads(ours, theirs, 1)
    a.step()
    b.step()
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    c = torch.optim.Adam([torch.nn.Parameter(p.detach().clone()) for p in ours], lr=1.0)
    c.load_state_dict(a.state_dict())
    assert float(c.state_dict()["state"][1]["step"]) == 2.0
    torch.testing.assert_close(c.state_dict()["state"][0]["exp_avg"], a.state[ours[0]]["exp_avg"])


def test_adam_rejects_mismatched_state():
    a = Adam([torch.nn.Parameter(torch.zeros(2))])
    other = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match="parameters"):
        a.load_state_dict(other.state_dict())


def test_adam_training_does_not_import_dynamo():
    code = (
        "import sys, torch\n"
        "from sample_factory.algo.learning.optimizers import Adam\n"
        "p = torch.nn.Parameter(torch.ones(3)); opt = Adam([p])\n"
        "loss = (p * p).sum(); loss.backward(); torch.nn.utils.clip_grad_norm_([p], 1.0); opt.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
