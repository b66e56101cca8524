"""ReLU(GRUCell(x, h)) as one autograd node (AttentiveFP's update, Xiong et al. 2019 eq. 4 with PyG's ReLU).

Cho et al. 2014:  r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz),
n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h, output ReLU(h').

The forward runs torch's CPU ``gru_cell`` operations in torch's order (``(h − n) ⊙ z + n``) and the backward the
operations autograd runs for them, so values and gradients equal ``relu(nn.GRUCell(x, h))`` bit for bit; but the
gate gradients are written straight into the two [N, 3d] buffers the weight products read (no concatenation of
chunk gradients) and the whole update is one autograd node instead of about fifteen.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable
from torch import nn

from zoo_core.nn.grad import records_grad


def _gates(x, h, w_ih, w_hh, b_ih, b_hh):
    """(r|z gates, pre-reset hidden part of n, n, output before ReLU), in torch's ``gru_cell`` order."""
    k = h.shape[1]
    gi, gh = torch.addmm(b_ih, x, w_ih.t()), torch.addmm(b_hh, h, w_hh.t())
    hn = gh[:, 2 * k:]
    for gate in (slice(0, k), slice(k, 2 * k)):   # one gate at a time, as torch (vectorised the same way)
        gh[:, gate].add_(gi[:, gate]).sigmoid_()
    rz = gh[:, :2 * k]
    n = gi[:, 2 * k:].add(hn * rz[:, :k]).tanh_()
    return rz, hn, n, (h - n).mul_(rz[:, k:]).add_(n)


class _GRUReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh):
        rz, hn, n, out = _gates(x, h, w_ih, w_hh, b_ih, b_hh)
        out = out.relu_()
        ctx.save_for_backward(x, h, w_ih, w_hh, rz, hn, n, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, h, w_ih, w_hh, rz, hn, n, out = ctx.saved_tensors
        k = h.shape[1]
        r, z = rz[:, :k], rz[:, k:]
        d = torch.ops.aten.threshold_backward(grad, out, 0)     # ReLU
        dhz = d * z                                               # through (h − n) ⊙ z
        d_in, d_hid = d.new_empty(d.shape[0], 3 * k), d.new_empty(d.shape[0], 3 * k)   # gates r|z|n
        dn = torch.ops.aten.tanh_backward.grad_input(d - dhz, n, grad_input=d_in[:, 2 * k:])
        torch.mul(dn, r, out=d_hid[:, 2 * k:])
        torch.mul(dn, hn, out=d_in[:, :k])
        torch.mul(d, h - n, out=d_in[:, k:2 * k])
        for gate in (slice(0, k), slice(k, 2 * k)):
            torch.ops.aten.sigmoid_backward.grad_input(d_in[:, gate], rz[:, gate], grad_input=d_in[:, gate])
        d_hid[:, :2 * k] = d_in[:, :2 * k]
        grads = [None] * 6
        if ctx.needs_input_grad[0]:
            grads[0] = d_in.mm(w_ih)
        if ctx.needs_input_grad[1]:
            grads[1] = d_hid.mm(w_hh).add_(dhz)
        if ctx.needs_input_grad[2]:
            grads[2] = d_in.t().mm(x)
        if ctx.needs_input_grad[3]:
            grads[3] = d_hid.t().mm(h)
        if ctx.needs_input_grad[4]:
            grads[4] = d_in.sum(0)
        if ctx.needs_input_grad[5]:
            grads[5] = d_hid.sum(0)
        return tuple(grads)


def gru_relu(cell: nn.GRUCell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``relu(cell(x, h))`` for [N, d] inputs: the same values, one autograd node (see the module doc)."""
    args = (x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    if cell.bias and records_grad(*args):
        return _GRUReLU.apply(*args)
    return torch.relu(cell(x, h))
