"""What the benchmark scripts share: their standard options, the device and thread set-up,
and the tag that keeps JSON from different results directories apart."""

import argparse
import json
import re
import subprocess
import time
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


def study_config(path) -> dict:
    """The study config at ``path``, validated, with the schema's defaults filled in."""
    import yaml

    from unlearn_study.config import validate_config

    return validate_config(yaml.safe_load(Path(path).read_text()))


def setup_torch(args) -> None:
    """Fail now, with a clear message, if --device cuda has no GPU; then set --threads."""
    import torch

    from unlearn_study import fairseq_run

    fairseq_run.torch_device(args.device)
    torch.set_num_threads(args.threads)


def results_tag(results) -> str:
    """'' for the default results directory, otherwise '_' + the directory as a name."""
    return "" if Path(results) == Path("results") else "_" + re.sub(r"\W+", "_", str(results)).strip("_")


def scoring_subset(results, bench_dir, pairs: int, env: dict):
    """The first ``pairs`` raw training pairs of the study in ``results``, binarized with its
    dictionaries as subset "train" of <bench_dir>/scoring_data<tag> (rebuilt only when the
    pair count or data changes). Returns (binarized dir, source lines, target lines)."""
    from unlearn_study import fairseq_run

    data = Path(results) / "data/bin/base"
    out = Path(bench_dir) / f"scoring_data{results_tag(results)}"
    src = (data / "raw/train.src").read_text().splitlines()[:pairs]
    tgt = (data / "raw/train.tgt").read_text().splitlines()[:pairs]
    assert len(src) == pairs, f"only {len(src)} training pairs available"
    stamp = out / "stamp.json"
    if not stamp.exists() or json.loads(stamp.read_text()) != {"pairs": pairs, "data": str(data)}:
        (out / "raw").mkdir(parents=True, exist_ok=True)
        (out / "raw/pairs.src").write_text("\n".join(src) + "\n")
        (out / "raw/pairs.tgt").write_text("\n".join(tgt) + "\n")
        subprocess.run(
            [
                fairseq_run.cli("fairseq-preprocess"),
                "--source-lang",
                "src",
                "--target-lang",
                "tgt",
                "--trainpref",
                str(out / "raw/pairs"),
                "--destdir",
                str(out),
                "--srcdict",
                str(data / "dict.src.txt"),
                "--joined-dictionary",
                "--workers",
                "1",
                "--user-dir",
                fairseq_run.plugin_dir(),
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        stamp.write_text(json.dumps({"pairs": pairs, "data": str(data)}))
    return out, src, tgt


def fairseq_score_reference_cmd(data_dir, checkpoint, max_tokens: int, device: str) -> list:
    from unlearn_study import fairseq_run

    return [
        fairseq_run.cli("fairseq-generate"),
        str(data_dir),
        "--path",
        str(checkpoint),
        "--score-reference",
        "--gen-subset",
        "train",
        "--source-lang",
        "src",
        "--target-lang",
        "tgt",
        "--required-batch-size-multiple",
        "1",
        "--max-tokens",
        str(max_tokens),
        "--user-dir",
        fairseq_run.plugin_dir(),
        *fairseq_run.device_flags(device),
    ]


def run_fairseq_score_reference(cmd: list, env: dict):
    """Run ``cmd`` (from fairseq_score_reference_cmd). Returns (process wall s, fairseq's own
    scoring time s, {pair index: H score = mean log2 probability per token})."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t
    m = re.search(r"Translated ([\d,]+) sentences .* \(([\d.]+) sentences/s", proc.stdout + proc.stderr)
    n = int(m.group(1).replace(",", ""))
    h = {
        int(line.split("\t")[0][2:]): float(line.split("\t")[1])
        for line in proc.stdout.splitlines()
        if line.startswith("H-")
    }
    return wall, n / float(m.group(2)), h
