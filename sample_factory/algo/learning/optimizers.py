"""Optimizers for the learner: our own Adam and LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning",
Alg. 2), and `make_optimizer(cfg, params)` that builds one from `optimizer`, `learning_rate`, `adam_eps`, `adam_beta*`.

`Adam` is not a `torch.optim.Optimizer`: every torch optimizer imports `torch._dynamo` on its first use (about 1.5 s
and 70 MiB per process on the 2-core machine, for nothing here). It runs torch's fused Adam kernel and reads and writes
`torch.optim.Adam`'s state-dict format, so checkpoints move freely between the two (and upstream's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer


def _check_hyperparameters(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid betas: {betas} (each must be in [0, 1))")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Lamb(Optimizer):
    """Layer-wise adaptive Adam: an Adam step rescaled per parameter tensor by the trust ratio ||w|| / ||update||.

    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  m^ = m/(1-b1^t);  v^ = v/(1-b2^t)  (if bias_correction)
    u = m^ / (sqrt(v^) + eps) + weight_decay * w
    trust = ||w|| / ||u|| if both norms are > 0 else 1  (||w|| clamped to at most `clamp_value`)
    w -= lr * trust * u
    State per parameter uses Adam's keys (`step`, `exp_avg`, `exp_avg_sq`).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        clamp_value: float = 10.0,
        bias_correction: bool = True,
    ) -> None:
        _check_hyperparameters(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            clamp_value=clamp_value,
            bias_correction=bias_correction,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lamb does not support sparse gradients")
                self._update_param(p, group, beta1, beta2)
        return loss

    def _update_param(self, p: torch.Tensor, group: dict, beta1: float, beta2: float) -> None:
        grad = p.grad
        state = self.state[p]
        if len(state) == 0:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        step = float(state["step"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)

        m_hat, v_hat = exp_avg, exp_avg_sq
        if group["bias_correction"]:
            m_hat = exp_avg / (1.0 - beta1**step)
            v_hat = exp_avg_sq / (1.0 - beta2**step)
        update = m_hat / (v_hat.sqrt() + group["eps"])
        if group["weight_decay"] != 0.0:
            update = update + group["weight_decay"] * p

        w_norm = p.norm().clamp(max=group["clamp_value"])
        u_norm = update.norm()
        trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
        p.sub_(update * (group["lr"] * trust))


class Adam:
    """Adam (Kingma and Ba 2015) with L2 weight decay, one parameter group, as `torch.optim.Adam` computes it:

    g += weight_decay * w;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  t += 1
    w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)

    Runs torch's fused kernel (`torch._fused_adam_`, CPU and CUDA, float32/float64/half parameters). State per
    parameter: `step` (a float32 scalar tensor on the parameter's device), `exp_avg`, `exp_avg_sq`.
    """

    _GROUP_FLAGS: dict[str, Any] = dict(
        amsgrad=False, maximize=False, foreach=None, capturable=False, differentiable=False, fused=True,
        decoupled_weight_decay=False,
    )  # fmt: skip

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        _check_hyperparameters(lr, betas, eps, weight_decay)
        params = list(params)
        if not params:
            raise ValueError("Adam got an empty parameter list")
        if any(not isinstance(p, torch.Tensor) for p in params):
            raise TypeError("Adam takes an iterable of tensors (parameter groups as dicts are not supported)")
        self.defaults: dict[str, Any] = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        self.param_groups: list[dict[str, Any]] = [dict(params=params, **self.defaults, **self._GROUP_FLAGS)]
        self.state: defaultdict[torch.Tensor, dict[str, torch.Tensor]] = defaultdict(dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    def _state_of(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        by_device: dict[tuple[torch.device, torch.dtype], list[list[torch.Tensor]]] = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("Adam does not support sparse gradients")
            st = self._state_of(p)
            lists = by_device.setdefault((p.device, p.dtype), [[], [], [], [], []])
            for lst, t in zip(lists, (p, p.grad, st["exp_avg"], st["exp_avg_sq"], st["step"])):
                lst.append(t)
        for params, grads, exp_avgs, exp_avg_sqs, steps in by_device.values():
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=float(group["lr"]), beta1=beta1,
                beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
            )  # fmt: skip
        return loss

    def state_dict(self) -> dict[str, Any]:
        """`torch.optim.Adam.state_dict()`'s layout: parameters are referred to by their index."""
        params = self.param_groups[0]["params"]
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(params)))
        state = {i: dict(self.state[p]) for i, p in enumerate(params) if p in self.state}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load our own or a `torch.optim.Adam` state dict (a single parameter group of the same sizes)."""
        groups = state_dict["param_groups"]
        params = self.param_groups[0]["params"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            raise ValueError(
                f"optimizer state has {len(groups)} group(s) with {[len(g['params']) for g in groups]} parameters; "
                f"this model has 1 group with {len(params)}"
            )
        saved = groups[0]
        index = {pid: p for pid, p in zip(saved["params"], params)}
        new_state: defaultdict[torch.Tensor, dict[str, torch.Tensor]] = defaultdict(dict)
        for pid, st in state_dict["state"].items():
            p = index[pid]
            if st["exp_avg"].shape != p.shape:
                raise ValueError(f"optimizer state for parameter {pid} has shape {tuple(st['exp_avg'].shape)}, "
                                 f"the parameter {tuple(p.shape)}")  # fmt: skip
            step = st["step"]
            new_state[p] = {
                "step": torch.as_tensor(step, dtype=torch.float32).detach().clone().to(p.device),
                "exp_avg": st["exp_avg"].detach().to(device=p.device, dtype=p.dtype).clone(),
                "exp_avg_sq": st["exp_avg_sq"].detach().to(device=p.device, dtype=p.dtype).clone(),
            }
        self.state = new_state
        for key in ("lr", "betas", "eps", "weight_decay"):
            if key in saved:
                self.param_groups[0][key] = tuple(saved[key]) if key == "betas" else saved[key]


def make_optimizer(cfg: Any, params: Iterable[Any]) -> Any:
    """Adam or Lamb per `cfg.optimizer`, with `learning_rate`, `adam_eps`, (`adam_beta1`, `adam_beta2`)."""
    kwargs = dict(lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
    if cfg.optimizer == "adam":
        return Adam(params, **kwargs)
    if cfg.optimizer == "lamb":
        return Lamb(params, **kwargs)
    raise ValueError(f"Unknown optimizer {cfg.optimizer!r}: use --optimizer=adam or --optimizer=lamb")
