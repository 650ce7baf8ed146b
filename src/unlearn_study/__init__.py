"""Library behind the unlearning workflow: data, models, scores, unlearning, metrics."""
