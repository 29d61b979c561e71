"""Optimizers for the learner: our own LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning", Alg. 2)
and `make_optimizer(cfg, params)` that builds Adam or Lamb from `optimizer`, `learning_rate`, `adam_eps`, `adam_beta*`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer


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
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid betas: {betas} (each must be in [0, 1))")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
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


def make_optimizer(cfg: Any, params: Iterable[Any]) -> Optimizer:
    """Adam or Lamb per `cfg.optimizer`, with `learning_rate`, `adam_eps`, (`adam_beta1`, `adam_beta2`)."""
    kwargs = dict(lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, **kwargs)
    if cfg.optimizer == "lamb":
        return Lamb(params, **kwargs)
    raise ValueError(f"Unknown optimizer {cfg.optimizer!r}: use --optimizer=adam or --optimizer=lamb")
