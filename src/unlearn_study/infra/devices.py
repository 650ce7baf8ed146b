"""One device per study: results computed on different devices (or dtypes) agree only up
to floating-point noise, and bit-identity holds on one device only, so the summary does
not mix them unless ``claims.allow_mixed_devices`` says so."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

COLUMNS = ["device", "dtype"]  # on every table a model computed (LoadedModel.computed_on)


class MixedDevices(ValueError):
    """Results of one study were computed on different devices or dtypes."""


def check_one_device(results: dict[str, pd.DataFrame], allow_mixed: bool) -> None:
    """``results``: a name (a unit, a model's scores) -> its table, with :data:`COLUMNS`.
    Raises :class:`MixedDevices` naming the results of each device unless all share one,
    or ``allow_mixed``."""
    by_device = defaultdict(list)
    for name, table in results.items():
        for device, dtype in table[COLUMNS].drop_duplicates().itertuples(index=False):
            by_device[f"{device} ({dtype})"].append(name)
    if len(by_device) <= 1 or allow_mixed:
        return
    parts = [
        f"{device}: {', '.join(names[:4])}" + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        for device, names in sorted(by_device.items())
    ]
    raise MixedDevices(
        "results computed on different devices would be mixed in one summary: "
        + "; ".join(parts)
        + ". Rerun them on one device (delete their outputs; model.device), or set "
        "claims.allow_mixed_devices: true to accept differences of floating-point noise"
    )
