"""SimNPO (Fan et al., 2024, "Simplicity Prevails: Rethinking Negative Preference
Optimization for LLM Unlearning"): NPO without the reference model. The log-likelihood is
normalised by the sequence's length and offset by a margin gamma:
``-(2/beta) mean log sigmoid(-(beta/|y|) log p_t(y|x) - gamma)``, |y| the target tokens
(pieces plus EOS). Without the ratio to p_0 it needs no step-0 likelihoods, and the
length normalisation keeps long examples from dominating the batch."""

from dataclasses import dataclass

from . import Method, register


@register
@dataclass(frozen=True)
class SimNPO(Method):
    name = "simnpo"
    args_schema = {"beta": {"type": "number", "exclusiveMinimum": 0}, "gamma": {"type": "number"}}
    beta: float = 2.5
    gamma: float = 0.0

    def loss(self, forget_nll, *, forget_tokens, step0_nll=None, retain_nll=None):
        import torch.nn.functional as F

        mean_log_likelihood = -forget_nll / forget_tokens  # nats per token
        return -(2.0 / self.beta) * F.logsigmoid(-self.beta * mean_log_likelihood - self.gamma).mean()
