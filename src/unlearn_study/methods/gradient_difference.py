"""Gradient difference: ascend on the forget batch, descend on a batch of retained
training pairs: ``-mean NLL(F) + retain_weight * mean NLL(retain batch)``."""

from dataclasses import dataclass

from . import Method, register


@register
@dataclass(frozen=True)
class GradientDifference(Method):
    name = "gradient_difference"
    needs_retain = True
    args_schema = {"retain_weight": {"type": "number", "minimum": 0}}
    retain_weight: float = 1.0

    def loss(self, forget_nll, *, forget_tokens, step0_nll=None, retain_nll=None):
        return -forget_nll.mean() + self.retain_weight * retain_nll.mean()
