"""The study: candidate kinds, the example table, forget sets, neighbours, evaluation and
the unlearning loop."""
