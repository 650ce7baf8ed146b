"""Negative preference optimisation (Zhang et al., 2024):
``(2/beta) mean log(1 + (p_t(y|x) / p_0(y|x))^beta)``, p_0 the model before unlearning.
Bounded where gradient ascent is not: the loss flattens once p_t << p_0."""

from dataclasses import dataclass

from . import Method, register


@register
@dataclass(frozen=True)
class NPO(Method):
    name = "npo"
    needs_step0_nll = True
    args_schema = {"beta": {"type": "number", "exclusiveMinimum": 0}}
    beta: float = 0.1

    def loss(self, forget_nll, *, forget_tokens, step0_nll=None, retain_nll=None):
        import torch.nn.functional as F

        log_ratio = step0_nll - forget_nll  # log p_t - log p_0
        return -(2.0 / self.beta) * F.logsigmoid(-self.beta * log_ratio).mean()
