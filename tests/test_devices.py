"""One device per study: the summary refuses to mix results computed on different devices."""

import pandas as pd
import pytest

from unlearn_study.infra import devices


def computed(device: str, dtype: str = "float32", rows: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"bits": range(rows), "device": device, "dtype": dtype})


def test_one_device_passes():
    devices.check_one_device({"unlearn a": computed("cpu"), "scores A": computed("cpu")}, allow_mixed=False)


@pytest.mark.parametrize(
    "other, named",
    [(computed("cuda: NVIDIA H100 80GB HBM3"), "cuda: NVIDIA H100"), (computed("cpu", "bfloat16"), "bfloat16")],
)
def test_mixed_devices_are_refused_naming_the_results(other, named):
    results = {f"unlearn set-r{i}": computed("cpu") for i in range(6)} | {"unlearn gpu-set": other}
    with pytest.raises(devices.MixedDevices) as error:
        devices.check_one_device(results, allow_mixed=False)
    message = str(error.value)
    assert named in message and "unlearn gpu-set" in message and "cpu (float32): unlearn set-r0" in message
    assert "and 2 more" in message and "claims.allow_mixed_devices" in message
    devices.check_one_device(results, allow_mixed=True)  # allowed: no error
