"""Gradient ascent: maximise the NLL of the forget batch (minimise ``-mean NLL(F)``)."""

from dataclasses import dataclass

from . import Method, register


@register
@dataclass(frozen=True)
class GradientAscent(Method):
    name = "gradient_ascent"

    def loss(self, forget_nll, *, forget_tokens, step0_nll=None, retain_nll=None):
        return -forget_nll.mean()
