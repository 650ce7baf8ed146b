"""Unlearning batch sizes as the study names them: an axis like the method (config
``unlearning.batch_sizes``), one unlearning job per value, named in paths and tables by
its label."""

WHOLE_SET = "all"  # the label of a batch of the whole forget set (batch size null)


def batch_label(size: int | None) -> str:
    """The name of an unlearning batch size (config ``unlearning.batch_sizes``) in paths and tables."""
    return WHOLE_SET if size is None else str(size)


def batch_size(label: str) -> int | None:
    return None if label == WHOLE_SET else int(label)
