"""What the benchmark scripts share: their standard options, the device and thread set-up,
and the tag that keeps JSON from different results directories apart."""
import argparse, re
from pathlib import Path


def parser(doc: str, results: bool = True, threads: bool = False, device_help: str | None = None):
    """An argument parser with --results, --device, --bench-dir (and --threads if asked)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if results:
        p.add_argument("--results", default="results")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help=device_help)
    if threads:
        p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (pipeline jobs get 1)")
    p.add_argument("--bench-dir", default="results/bench", help="where the JSON goes")
    return p


def setup_torch(args) -> None:
    """Fail now, with a clear message, if --device cuda has no GPU; then set --threads."""
    import torch
    from unlearn_study import fairseq_run

    fairseq_run.torch_device(args.device)
    torch.set_num_threads(args.threads)


def results_tag(results) -> str:
    """'' for the default results directory, otherwise '_' + the directory as a name."""
    return "" if Path(results) == Path("results") else "_" + re.sub(r"\W+", "_", str(results)).strip("_")
