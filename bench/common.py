"""What the benchmark scripts share: their standard options, the device and thread set-up,
the model a script measures (a half and seed of the study), an unlearning job's set-up,
reading Snakemake's benchmark files, and the tag that keeps JSON from different results
directories apart.

Result paths and the rules' job names (the stems of their log and benchmark files) come
from ``unlearn_study.infra.paths`` (``JOBS``, ``ResultPaths.log``/``.benchmark``), where
the rules take theirs from too.
"""

import argparse
import glob
import json
import re
import subprocess
import time
from pathlib import Path

from unlearn_study.infra.paths import JOBS


def wildcard_pattern(name: str) -> str:
    """A regex for the values of one wildcard of the rules' file names."""
    from unlearn_study.study import batches, forget_sets
    from unlearn_study.study.kinds import HALVES

    if name == "forget_set":  # forget_sets.NAME, the one place that knows the format, ungrouped
        return re.sub(r"\(\?P<\w+>", "(?:", forget_sets.NAME.pattern.removeprefix("^").removesuffix("$"))
    return {
        "half": "|".join(HALVES),
        "seed": r"\d+",
        "method": r"[a-z0-9_]+",
        "batch": rf"{batches.WHOLE_SET}|\d+",  # batches.batch_label
    }[name]


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


def add_model_options(p, config_help: str, half_default: str = "A") -> None:
    """--config (the study config of --results, overlaying config.yaml), --half and --seed:
    which of the study's models (one per half and seed) the script measures."""
    from unlearn_study.study.kinds import HALVES

    p.add_argument(
        "--config",
        default="config.yaml",
        help=f"{config_help} (overlays config.yaml, as snakemake --configfile does); its first model.seeds "
        "entry is the default --seed",
    )
    p.add_argument("--half", default=None, choices=HALVES, help=f"the model's half (default: {half_default})")
    p.add_argument("--seed", type=int, default=None, help="the model's seed (default: the first of model.seeds)")


def check_forget_set(p, name: str | None) -> None:
    """Exit with a usage error unless ``name`` (if given) is a forget set name."""
    from unlearn_study.study import forget_sets

    if name is not None:
        try:
            forget_sets.parse(name)
        except ValueError as e:
            p.error(str(e))


def study_config(path) -> dict:
    """The study config at ``path`` overlaying config.yaml, validated (as the Snakefile sees it)."""
    from unlearn_study.infra.config import load_config

    return load_config(path)


def model_paths(a, P, cfg: dict, forget_set: str | None = None) -> tuple[str, int, str, str]:
    """(half, seed, checkpoint, binarized data dir) of the model the options ask for.

    The half is --half, else that of ``forget_set`` (the model its unlearning jobs start
    from), else A; the seed is --seed, else the first of the config's model.seeds.
    """
    from unlearn_study.study import forget_sets

    half = a.half or (forget_sets.parse(forget_set).half if forget_set else "A")
    seed = a.seed if a.seed is not None else cfg["model"]["seeds"][0]
    checkpoint, data = P.checkpoint.format(half=half, seed=seed), P.data_bin.format(half=half)
    if not Path(checkpoint).exists():
        raise SystemExit(f"no model {half}/seed{seed} in the results: {checkpoint} does not exist")
    return half, seed, checkpoint, data


def template_regex(template: str) -> re.Pattern:
    """A regex matching ``template`` (a paths or paths.JOBS template), each wildcard a named group."""
    out, last = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        name = m.group(1)
        out.append(re.escape(template[last : m.start()]))
        out.append(f"(?P<{name}>{wildcard_pattern(name)})")
        last = m.end()
    out.append(re.escape(template[last:]))
    return re.compile("".join(out))


def matching(template: str) -> list[tuple[Path, dict]]:
    """(path, wildcards) of every existing file matching ``template``, sorted by path."""
    pattern = template_regex(template)
    found = []
    literal = re.split(r"\{\w+\}", template)
    for path in sorted(glob.glob("*".join(glob.escape(part) for part in literal))):
        m = pattern.fullmatch(path)
        if m:
            found.append((Path(path), m.groupdict()))
    return found


def benchmark_job(path) -> tuple[str, dict]:
    """(rule, wildcards) of a Snakemake benchmark file, by its name (a paths.JOBS job name)."""
    stem = Path(path).name.removesuffix(".tsv")
    for rule, template in JOBS.items():
        m = template_regex(template).fullmatch(stem)
        if m:
            return rule, m.groupdict()
    raise ValueError(f"{path}: not the benchmark file of a job of any rule in paths.JOBS ({stem!r})")


def setup_torch(args) -> None:
    """Fail now, with a clear message, if --device cuda has no GPU; then set --threads."""
    import torch

    from unlearn_study.backends.fairseq import run as fairseq_run

    fairseq_run.torch_device(args.device)
    torch.set_num_threads(args.threads)


def results_tag(results) -> str:
    """'' for the default results directory, otherwise '_' + the directory as a name."""
    return "" if Path(results) == Path("results") else "_" + re.sub(r"\W+", "_", str(results)).strip("_")


def scoring_subset(results, data_dir, bench_dir, pairs: int):
    """The first ``pairs`` raw training pairs of the model data in ``data_dir`` (a half's
    binarized data, paths' data_bin, of the study in ``results``), binarized with its
    dictionary (binarize.preprocess, as rule binarize does) as subset "train" of
    <bench_dir>/scoring_data<tag> (rebuilt only when the pair count or data changes).
    Returns (binarized dir, source lines, target lines)."""
    from unlearn_study.backends.fairseq import binarize
    from unlearn_study.infra.io import write_lines

    data = Path(data_dir)
    out = Path(bench_dir) / f"scoring_data{results_tag(results)}"
    src = (data / "raw/train.src").read_text().splitlines()[:pairs]
    tgt = (data / "raw/train.tgt").read_text().splitlines()[:pairs]
    assert len(src) == pairs, f"only {len(src)} training pairs available"
    stamp = out / "stamp.json"
    if not stamp.exists() or json.loads(stamp.read_text()) != {"pairs": pairs, "data": str(data)}:
        (out / "raw").mkdir(parents=True, exist_ok=True)
        write_lines(src, out / "raw/pairs.src")
        write_lines(tgt, out / "raw/pairs.tgt")
        log = out / "preprocess.log"
        log.unlink(missing_ok=True)
        binarize.preprocess({"train": out / "raw/pairs"}, data / "dict.src.txt", out, log)
        stamp.write_text(json.dumps({"pairs": pairs, "data": str(data)}))
    return out, src, tgt


def unlearning_job_data(P, cfg: dict, model, forget_set: str, *, needs_retain: bool, forget=None, base_path=None):
    """The EvalData of an unlearning job of ``forget_set`` starting from ``model``: rule
    unlearn's set-up (evaluation.job_data, as workflow_scripts/unlearn.py calls it) on the
    tables of the results of ``P`` with the settings of study config ``cfg``.
    ``forget``: rows to unlearn instead of the forget set's; ``base_path``: the model's
    base evaluation (None: none is read)."""
    import pandas as pd

    from unlearn_study.backends.fairseq.generation import Generation
    from unlearn_study.data import subword
    from unlearn_study.study import evaluation, forget_sets

    settings = cfg["unlearning"]
    tables = {
        "table": P.examples,
        "forget": P.forget_set,
        "neighbours": P.neighbours,
        "test": P.test,
        "retained": P.retained,
    }
    tables = {name: pd.read_parquet(path.format(forget_set=forget_set)) for name, path in tables.items()}
    if forget is not None:
        tables["forget"] = forget
    return evaluation.job_data(
        model,
        subword.load(P.spm),
        kind=forget_sets.parse(forget_set).kind,
        **tables,
        retain_sample=settings["retain_sample"],
        population_size=settings["population_sample"],
        seed=settings["seed"],
        needs_retain=needs_retain,
        max_tokens=cfg["scoring"]["max_tokens"],
        generation=Generation(**settings["generation"]),
        base_path=base_path,
    )


def fairseq_score_reference_cmd(data_dir, checkpoint, max_tokens: int, device: str) -> list:
    from unlearn_study.backends.fairseq import binarize
    from unlearn_study.backends.fairseq import run as fairseq_run

    return [
        fairseq_run.cli("fairseq-generate"),
        str(data_dir),
        "--path",
        str(checkpoint),
        "--score-reference",
        "--gen-subset",
        "train",
        *binarize.LANGUAGE_FLAGS,
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
