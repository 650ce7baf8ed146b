"""SimNPO: its loss against a hand computation, and the direction of its gradient."""

import math

import torch

from unlearn_study import methods


def test_simnpo_loss_matches_the_formula():
    method = methods.create("simnpo", {"beta": 2.0, "gamma": 0.5})
    nll = torch.tensor([12.0, 3.0])  # nats per sequence
    tokens = torch.tensor([6.0, 2.0])  # pieces + EOS
    # -(2/beta) mean log sigmoid(beta * nll/|y| - gamma), by hand:
    expected = (
        -(2 / 2.0)
        * (math.log(1 / (1 + math.exp(-(2.0 * 2.0 - 0.5)))) + math.log(1 / (1 + math.exp(-(2.0 * 1.5 - 0.5)))))
        / 2
    )
    assert math.isclose(method.loss(nll, forget_tokens=tokens).item(), expected, rel_tol=1e-6)
    assert not method.needs_step0_nll and not method.needs_retain


def test_simnpo_descends_by_raising_the_forget_nll_and_saturates():
    nll = torch.tensor([4.0, 20.0], requires_grad=True)
    methods.create("simnpo").loss(nll, forget_tokens=torch.tensor([5.0, 5.0])).backward()
    assert (nll.grad < 0).all()  # a gradient step raises both NLLs
    assert nll.grad[1].abs() < nll.grad[0].abs()  # the loss flattens for examples already unlikely
