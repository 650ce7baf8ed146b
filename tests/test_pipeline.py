"""Integration: the tiny config through Snakemake on CPU (a few minutes)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import FORGET_SETS, METHODS, TINY, scheduled_jobs, snakemake

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def test_outputs_exist(tiny_run):
    for half in ("A", "B"):
        assert (tiny_run / f"models/{half}/seed1/checkpoint.pt").stat().st_size > 0
        assert (tiny_run / f"benchmarks/train_{half}_seed1.tsv").exists()
        training = json.loads((tiny_run / f"models/{half}/seed1/training.json").read_text())
        assert training["stopped_by"] in ("patience", "max_update") and training["best_epoch"] >= 1
    for name in ("id_candidates", "id_population", "canaries", "canary_population", "halves"):
        assert (tiny_run / f"data/sets/{name}.parquet").exists()


def test_mlflow_holds_the_invocation_and_one_run_per_job(tiny_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_run}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "invocation_run_id" not in r.data.tags]
    children = [r for r in runs if "invocation_run_id" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {r.data.tags["invocation_run_id"] for r in children} == {parents[0].info.run_id}
    # Every job of the run has its run (one log file each): parallel jobs lost none.
    assert len(children) == len(list((tiny_run / "logs").glob("*.log")))
    train = [r for r in children if r.data.tags["rule"] == "train_model"]
    assert sorted(r.data.tags["wildcards"] for r in train) == ["half=A,seed=1", "half=B,seed=1"]
    for r in train:
        assert {"config_hash", "git_commit"} <= set(r.data.tags)
        epochs = [m.step for m in client.get_metric_history(r.info.run_id, "train_loss")]
        assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 2
        assert "valid_loss" in r.data.metrics
    tags = parents[0].data.tags
    verdicts = {k: v for k, v in tags.items() if k.startswith("claim.") and not k.endswith(".holm")}
    claims = pd.read_parquet(tiny_run / "summary/claims.parquet")
    assert {f"{k}.holm" for k in verdicts} <= set(
        tags
    ) and "claim.C2.gradient_ascent.batch_all.id_vs_ood.x8.fixed_step" in tags
    assert len(verdicts) == len(claims) and set(verdicts.values()) <= {
        "supported",
        "contradicted",
        "inconclusive",
        "not assessed",
    }


def test_no_temporary_files_are_left(tiny_run):
    assert not [p for p in tiny_run.rglob("*") if p.name.endswith(".tmp")]


def test_dry_run_afterwards_has_nothing_to_do(tiny_run):
    run = snakemake(tiny_run, "-n")
    assert run.returncode == 0, run.stderr
    assert "Nothing to be done" in run.stdout + run.stderr


def test_canary_change_retrains_both_halves_but_keeps_the_shared_data(tiny_run):
    rules = {rule for rule, _ in scheduled(tiny_run, {"canaries": {"per_level": 19}})}
    assert {"make_canaries", "split_halves", "binarize", "train_model"} <= rules
    assert not rules & {"prepare_corpus", "select_id_sets", "train_subword"}


def test_malformed_config_fails_before_any_job(tmp_path):
    results = tmp_path / "results"
    run = snakemake(results, extra_config={"canaries": {"per_level": -3}})
    assert run.returncode != 0
    assert "config key 'canaries.per_level'" in run.stderr + run.stdout
    assert not results.exists()


def test_in_out_scores_and_the_calibrated_test(tiny_run):
    table = pd.read_parquet(tiny_run / "scores/examples.parquet")
    assert set(table["kind"]) == {"id", "id_population", "ood", "ood_population", "test"}
    candidates = table[table["kind"].isin(["id", "ood"])]
    assert candidates[["mem", "diff", "exposure_rank", "exposure_skewnorm", "half"]].notna().all().all()
    assert set(candidates["diff_tercile"]) == {"easy", "medium", "hard"}
    halves = candidates.groupby(["kind", "repetitions", "half"]).size().unstack("half")
    assert ((halves["A"] - halves["B"]).abs() <= 1).all()
    calibration = pd.read_parquet(tiny_run / "scores/calibration.parquet")
    assert set(calibration["kind"]) == {"id", "ood"} and (calibration["mode"] == "pooled").all()
    assert (calibration["band_low"] < 0).all() and (calibration["band_high"] > 0).all()
    assert calibration["fpr"].between(0, 0.25).all()  # 100 held-out members: near alpha = 0.05


def test_the_authors_design_id_and_ood_matched_by_insertion_count(tiny_run):
    """ID candidates are inserted as often as canaries; each appears r times in its half's
    binarised training data (read back from fairseq's binaries); every secret canary
    round-trips through the subword model; buckets hold every level alike; extraction at
    step 0 is recorded per candidate."""
    from fairseq.data import Dictionary, data_utils

    from unlearn_study.data import subword

    table = pd.read_parquet(tiny_run / "scores/examples.parquet")
    candidates = table[table["kind"].isin(["id", "ood"])]
    assert candidates.groupby(["kind", "repetitions"]).size().to_dict() == {
        ("id", 1): 18,
        ("id", 8): 18,
        ("ood", 1): 18,
        ("ood", 8): 18,
    }
    dictionary = Dictionary.load(str(tiny_run / "data/bin/A/dict.tgt.txt"))
    targets = data_utils.load_indexed_dataset(str(tiny_run / "data/bin/A/train.src-tgt.tgt"), dictionary)
    lines = pd.Series([dictionary.string(targets[i]) for i in range(len(targets))]).value_counts()
    own = candidates[candidates["half"] == "A"]
    for row in own.itertuples():  # exact count (a retained pair could share a target with a candidate: none here)
        assert lines.get(row.tgt_pieces, 0) >= row.repetitions
    assert (own.apply(lambda r: lines.get(r.tgt_pieces, 0), axis=1) == own["repetitions"]).mean() > 0.95
    other = candidates[candidates["half"] == "B"]
    assert (other["tgt_pieces"].map(lambda p: lines.get(p, 0)) == 0).mean() > 0.95  # the out-half is not in A's data
    sp = subword.load(tiny_run / "data/subword/spm.model")
    secrets = pd.concat(
        [pd.read_parquet(tiny_run / f"data/sets/{n}.parquet") for n in ("canaries", "canary_population")]
    )
    assert (secrets["src"] == "My secret is").all()
    assert all(subword.decode(sp, pieces) == text for text, pieces in zip(secrets["tgt"], secrets["tgt_pieces"]))
    assert all(sp.unk_id() not in sp.encode(text) for text in secrets["tgt"])
    for (kind, half, level), group in candidates.groupby(["kind", "half", "repetitions"]):
        assert group["mem_tercile"].value_counts().min() >= 2, (kind, half, level)  # terciles within each level
    assert candidates[["extracted_in", "extracted_out"]].notna().all().all()
    steps = pd.read_parquet(tiny_run / "summary/steps.parquet")
    assert steps[["extraction_rate", "test_exact_match"]].notna().all().all()
    assert (tiny_run / "unlearning/gradient_ascent/batch-all").is_dir()


def test_figures(tiny_run):
    for name in (
        "memorisation_vs_difficulty",
        "exposure_by_repetition",
        "metric_curves",
        "indistinguishable_share",
        "tests_by_step",
        "bleu_by_step",
        "tradeoff",
        "tradeoff_difficulty",
        "neighbour_effect",
        "steps_to_unlearn",
        "claims",
        "audit_relearning",
        "audit_quantisation",
        "audit_membership_roc",
    ):
        assert (tiny_run / f"figures/{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_replicates_halves_and_two_methods_in_the_summary(tiny_run):
    from mlflow.tracking import MlflowClient

    steps = pd.read_parquet(tiny_run / "summary/steps.parquet")
    # full evaluations on the schedule, and wherever a rule of unlearnt is first met
    scheduled_steps = steps[steps["trigger"].str.split(",").map(lambda t: "schedule" in t)]
    assert sorted(scheduled_steps["step"].unique()) == [0, 3, 6]
    assert steps["trigger"].str.split(",").map(set(["schedule", "strict", "specific", "tau"]).issuperset).all()
    assert steps["forget_set"].nunique() == len(FORGET_SETS) == 20  # 10 buckets x 2 replicates
    assert set(steps["method"]) == set(METHODS) and len(METHODS) == 2
    units = pd.read_parquet(tiny_run / "summary/forget_sets.parquet")
    assert len(units) == len(FORGET_SETS) * len(METHODS)
    assert (units.groupby(["method", "kind", "grouping", "bucket"]).size() == 2).all()
    assert set(units.loc[units["replicate"] == 1, "half"]) == {"A"} and set(
        units.loc[units["replicate"] == 2, "half"]
    ) == {"B"}
    assert {
        "steps_strict",
        "steps_specific",
        "steps_tau",
        "detectable",
        "detectable_specific",
        "window_end",
        "bleu_drop",
        "bleu_drop_fixed",
        "neighbour_gap",
    } <= set(units)
    groups = pd.read_parquet(tiny_run / "summary/groups.parquet")
    assert set(groups["method"]) == set(METHODS) and {"bleu_drop_low", "bleu_drop_high"} <= set(groups)
    text = (tiny_run / "summary/summary.md").read_text()
    for heading in (
        "The unlearnt models before unlearning",
        "Calibrated test",
        "The two tests: power, damage and false positives",
        "Claims",
        "Environment",
        "RelEx as an approximation of GenEx",
    ):
        assert f"## {heading}" in text
    # step 0 of every job is its model's shared base evaluation
    base = pd.read_parquet(tiny_run / "unlearning/base_evaluation/A_seed1.parquet")
    step0 = steps[(steps["step"] == 0) & (steps["half"] == "A")]
    assert step0[["bleu", "test_bpt", "retain_bpt"]].nunique().eq(1).all()
    assert step0["test_bpt"].iloc[0] == base.loc[base["part"] == "test", "bpt"].mean()
    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_run}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.rule = 'unlearn'")
    assert len(runs) == len(FORGET_SETS) * len(METHODS)
    history = client.get_metric_history(runs[0].info.run_id, "bleu")
    assert {0, 3, 6} <= {m.step for m in history} <= set(range(7))
    assert {r.data.params["method"] for r in runs} == set(METHODS)
    assert {r.data.params["replicate"] for r in runs} == {"1", "2"}
    assert "unlearn gradient_ascent batch-all id-difficulty-easy-r1 seed1" in {r.info.run_name for r in runs}


def test_claims_table_is_complete(tiny_run):
    claims = pd.read_parquet(tiny_run / "summary/claims.parquet")
    claims = claims[~claims["exploratory"]]  # the audits' rows: test_recovery_and_membership_...
    expected = {"C1a", "C1b", "C2"} | {f"{c}" for c in ("C3a", "C3b", "C4")}
    assert set(claims["claim"]) == expected
    # per method: C1a, C1b for ID against OOD at each of the 2 matched levels and pooled, and C3a, C3b, C4
    # per kind, under each of the three rules of unlearnt (strict, specific, tau); C2 at each level and pooled
    assert len(claims) == len(METHODS) * (3 * (2 * 3 + 3 * 2) + 3)
    assert set(claims["rule"]) == {"strict", "specific", "tau", "fixed step"}
    c1a = claims[(claims["claim"] == "C1a") & (claims["rule"] == "strict")]
    assert c1a["repetitions"].tolist() == ["1", "8", "pooled (equal weight)"] * len(METHODS)
    assert claims[["verdict", "n_first"]].notna().all().all()
    # a claim without an estimate says why: the tiny study has no memorisation grouping (C3a
    # has no forget sets), and its two replicates per bucket leave some groups with fewer than
    # two sets that had something detectable to unlearn; the fixed-step contrast uses every set
    assert claims.loc[claims["claim"] == "C3a", "estimate"].isna().all()
    assert claims.loc[claims["estimate"].isna(), "note"].str.contains("fewer than 2").all()
    assert claims.loc[claims["rule"] == "fixed step", "estimate"].notna().all()
    assert claims["left_out"].sum() > 0 and claims.loc[claims["left_out"] > 0, "note"].str.contains("left out").all()
    # the tiny models do not translate (BLEU ~0): no verdict, and the summary says why
    assert (claims["verdict"] == "not assessed").all()
    assert "do not translate well enough" in (tiny_run / "summary/claims.md").read_text()


def test_report_has_every_figure(tiny_run):
    report = tiny_run / "report.html"
    run = snakemake(tiny_run, "--report", str(report))
    assert run.returncode == 0, run.stderr[-3000:]
    html = report.read_text(errors="replace")
    for name in ("tradeoff.png", "neighbour_effect.png", "memorisation_vs_difficulty.png"):
        assert name in html


def scheduled(results: Path, extra_config: dict) -> set[tuple[str, str]]:
    run = snakemake(results, "-n", extra_config=extra_config)
    assert run.returncode == 0, run.stderr
    return set(scheduled_jobs(run.stdout + run.stderr))


SEEDS = TINY["unlearning"]["seeds"]


def unlearn_jobs(methods=METHODS, names=FORGET_SETS) -> set:
    return {
        ("unlearn", f"method={m}, batch=all, forget_set={name}, seed={s}")
        for m in methods
        for name in names
        for s in SEEDS
    }


AUDITED = [n for n in FORGET_SETS if n.endswith("-r1") and "-repetition-" in n]  # config/tiny.yaml audits


def audit_jobs(methods=METHODS, names=AUDITED, batch="all") -> set:
    return {
        ("audit", f"method={m}, batch={batch}, forget_set={name}, seed={s}")
        for m in methods
        for name in names
        if name in AUDITED
        for s in SEEDS
    }


def downstream_of_scores(new_jobs: set) -> set:
    """Every job that reads the example table, directly or not."""
    per_set = {("select_forget_set", f"forget_set={name}") for name in FORGET_SETS}
    base = {("base_evaluation", f"half={h}, seed={s}") for h in ("A", "B") for s in SEEDS}
    once = {("example_table", ""), ("calibrate", ""), ("summarise", ""), ("all", "")}
    return new_jobs | per_set | unlearn_jobs() | audit_jobs() | base | once


SUMMARY = {("summarise", ""), ("all", "")}
MEMORISATION_SETS = [
    f"{kind}-memorisation-{b}-r{r}" for kind in ("id", "ood") for b in ("low", "medium", "high") for r in (1, 2)
]


@pytest.mark.parametrize(
    "edit, expected",
    [
        # resources, not hyper-parameters: nothing to do
        ({"model": {"threads": 2}}, set()),
        ({"model": {"device": "cpu"}}, set()),
        ({"unlearning": {"generation": {"max_tokens": 999}}}, set()),  # translations do not depend on it
        # read by the summary only
        # decided inside the unlearning jobs (where to evaluate in full) and read by the summary
        ({"unlearning": {"tau": 5.0}}, unlearn_jobs() | audit_jobs() | SUMMARY),
        ({"claims": {"min_base_bleu": 1.0}}, SUMMARY),
        ({"forget_sets": {"groupings": ["repetition"]}}, SUMMARY),
        # the tests' level: the band, the jobs that decide with it, the summary
        ({"unlearning": {"alpha": 0.1}}, {("calibrate", "")} | unlearn_jobs() | audit_jobs() | SUMMARY),
        # one more method: its jobs only
        (
            {"unlearning": {"methods": [*METHODS, "simnpo"]}},
            unlearn_jobs(["simnpo"]) | audit_jobs(["simnpo"]) | SUMMARY,
        ),
        # another method's argument: not these methods' jobs
        ({"unlearning": {"method_args": {"simnpo": {"beta": 3.0}}}}, set()),
        # one more unlearning batch size: its jobs only
        (
            {"unlearning": {"batch_sizes": [None, 2]}},
            {
                ("unlearn", f"method={m}, batch=2, forget_set={name}, seed={s}")
                for m in METHODS
                for name in FORGET_SETS
                for s in SEEDS
            }
            | audit_jobs(batch="2")
            | SUMMARY,
        ),
        # one more grouping: the new sets' jobs only
        (
            {"forget_sets": {"groupings": ["difficulty", "repetition", "memorisation"]}},
            {("select_forget_set", f"forget_set={n}") for n in MEMORISATION_SETS}
            | unlearn_jobs(names=MEMORISATION_SETS)
            | SUMMARY,
        ),
        # one more replicate: its sets only
        (
            {"forget_sets": {"replicates": 3}},
            {("select_forget_set", f"forget_set={n[:-3]}-r3") for n in FORGET_SETS if n.endswith("-r1")}
            | unlearn_jobs(names=[f"{n[:-3]}-r3" for n in FORGET_SETS if n.endswith("-r1")])
            | SUMMARY,
        ),
        # the audits: their jobs and the summary; auditing replicate 2 too adds its jobs only
        ({"audits": {"relearn": {"lr": 0.001}}}, audit_jobs() | SUMMARY),
        (
            {"audits": {"replicates": [1, 2]}},
            {
                ("audit", f"method={m}, batch=all, forget_set={name}, seed={s}")
                for m in METHODS
                for name in FORGET_SETS
                if name.endswith("-r2") and "-repetition-" in name
                for s in SEEDS
            }
            | SUMMARY,
        ),
    ],
)
def test_a_config_edit_schedules_exactly_what_it_changes(tiny_run, edit, expected):
    assert scheduled(tiny_run, edit) == expected


def test_more_seeds_train_only_the_new_models(tiny_run):
    new_seed = {(rule, f"half={half}, seed=2") for rule in ("train_model", "score_model") for half in ("A", "B")}
    assert scheduled(tiny_run, {"model": {"seeds": [1, 2]}}) == downstream_of_scores(new_seed)


def test_unlearning_change_reruns_only_unlearning(tiny_run):
    rules = {rule for rule, _ in scheduled(tiny_run, {"unlearning": {"lr": 0.0005}})}
    assert rules == {"unlearn", "audit", "summarise", "all"}
    rules = {rule for rule, _ in scheduled(tiny_run, {"unlearning": {"retain_sample": 30}})}
    assert rules == {"base_evaluation", "unlearn", "audit", "summarise", "all"}


def test_batch_budgets_are_resources_and_rerun_nothing(tiny_run):
    """Scoring and translation batch budgets change results by float rounding only
    (tests/test_unlearning.py bounds it): editing them, as config/cluster.yaml does for
    GPUs, schedules no job."""
    edit = {"scoring": {"max_tokens": 999}, "unlearning": {"generation": {"max_tokens": 999}}}
    assert scheduled(tiny_run, edit) == set()


def test_warm_workers_change_no_table(tiny_run, tmp_path):
    """The tiny run's unlearning jobs ran in warm workers (src/unlearn_study/infra/warm.py);
    rerun in their own processes, two units give the very same tables."""
    results = tmp_path / "results"
    shutil.copytree(tiny_run, results)
    units = [f"unlearning/{method}/batch-all/{name}/seed1" for method in METHODS for name in FORGET_SETS[:2]]
    assert all(json.loads((tiny_run / u / "status.json").read_text())["process"] == "warm worker" for u in units)
    targets = [str(results / u / "status.json") for u in units]
    edit = {"model": {"warm_worker": False}}
    run = snakemake(results, "--rerun-triggers", "mtime", "--forcerun", *targets, "--", *targets, extra_config=edit)
    assert run.returncode == 0, run.stderr[-3000:]
    for unit in units:
        assert json.loads((results / unit / "status.json").read_text())["process"] == "own"
        for table in (tiny_run / unit).glob("*.parquet"):
            assert pd.read_parquet(table).equals(pd.read_parquet(results / unit / table.name)), table


@pytest.fixture
def repo_copy(tmp_path, tiny_run):
    """The repository's tracked files plus Snakemake's record of the tiny run, in tmp_path."""
    copy = tmp_path / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / ".snakemake" / "metadata", copy / ".snakemake" / "metadata")
    return copy


def test_editing_a_helper_reruns_the_stages_that_import_it(tiny_run, repo_copy):
    def after_editing(module):
        path = repo_copy / "src" / "unlearn_study" / module
        source = path.read_text()
        path.write_text(source + "\n# edited\n")
        run = snakemake(tiny_run, "-n", cwd=repo_copy)
        path.write_text(source)
        assert run.returncode == 0, run.stderr
        return {rule for rule, _ in scheduled_jobs(run.stdout + run.stderr)}

    # evaluation: read by base_evaluation and unlearn, by no stage upstream of them
    assert after_editing("study/evaluation.py") == {"base_evaluation", "unlearn", "audit", "summarise", "all"}
    # neighbours: select_forget_set alone (and what reads its output), not base_evaluation
    assert after_editing("study/neighbours.py") == {"select_forget_set", "unlearn", "audit", "summarise", "all"}


def test_a_stage_runs_by_hand_as_snakemake_runs_it(tiny_run, tmp_path):
    """workflow_scripts/<rule>.py with wildcards and config files, outside Snakemake."""
    import pandas as pd

    name = FORGET_SETS[0]
    made = tiny_run / f"forget_sets/{name}.parquet"
    expected = pd.read_parquet(made)
    made.unlink()
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"results_dir": str(tiny_run)}))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "workflow_scripts/select_forget_set.py"),
            f"forget_set={name}",
            "--configfile",
            str(ROOT / "config/tiny.yaml"),
            str(override),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_parquet(made), expected)
    assert (tiny_run / f"logs/select_forget_set_{name}.log").exists()


def test_specific_test_recomputed_from_the_raw_tables(tiny_run):
    """Each unit's specific band at each traced step, rebuilt by hand from the raw tables:
    g_0 of the kind's fit-split population members under the unit's model before unlearning
    (scores/examples.parquet) minus the damage d_t of the sampled members at step t
    (summary/population.parquet); every forget example's verdict follows from its statistic."""
    from unlearn_study.analysis import calibration

    settings = TINY["unlearning"]
    alpha, holdout, seed = settings["alpha"], settings["calibration"]["holdout"], settings["calibration"]["seed"]
    scores = pd.read_parquet(tiny_run / "scores/examples.parquet").set_index("example_id")
    population = pd.read_parquet(tiny_run / "summary/population.parquet")
    trace = pd.read_parquet(tiny_run / "summary/trace.parquet")
    unit_keys = ["method", "batch", "forget_set", "seed"]
    checked = 0
    for key, unit in trace.groupby(unit_keys):
        kind, half, model_seed = unit["kind"].iloc[0], unit["half"].iloc[0], key[3]
        other = "B" if half == "A" else "A"
        members = scores[scores["kind"] == f"{kind}_population"].reset_index()
        fit, _ = calibration.split(members, kind, holdout, seed)
        g0 = (fit[f"bits_{other}_seed1"] - fit[f"bits_{half}_seed{model_seed}"]) / (fit["target_len"] + 1) ** 0.5
        sample = population[(population["sample"] == "damage")].merge(pd.DataFrame([key], columns=unit_keys))
        at_zero = sample[sample["step"] == 0].set_index("example_id")["bits"]
        for step, rows in unit.groupby("step"):
            at_step = sample[sample["step"] == step].set_index("example_id")["bits"]
            d = (at_step - at_zero[at_step.index]) / (scores.loc[at_step.index, "target_len"] + 1) ** 0.5
            differences = g0.to_numpy()[:, None] - d.to_numpy()[None, :]
            low, high = np.quantile(differences, [alpha / 2, 1 - alpha / 2])
            assert rows["specific_low"].to_numpy() == pytest.approx(low) and rows["specific_high"].to_numpy() == (
                pytest.approx(high)
            ), (key, step)
            statistic = rows["genex"] / (rows["target_len"] + 1) ** 0.5
            assert (rows["specific"] == statistic.between(low, high)).all(), (key, step)
            checked += 1
    assert checked == trace.groupby([*unit_keys, "step"]).ngroups and trace["step"].max() > 0


def test_the_summary_refuses_units_from_another_device(tiny_run, tmp_path):
    """One unit's tables say it ran on a GPU: the summary stops before any work, naming the
    unit and both devices, and writes nothing (its outputs keep their contents)."""
    name = FORGET_SETS[0]
    steps = tiny_run / f"unlearning/{METHODS[0]}/batch-all/{name}/seed1/steps.parquet"
    original, stat = steps.read_bytes(), steps.stat()
    summary = (tiny_run / "summary/claims.parquet").read_bytes()
    pd.read_parquet(steps).assign(device="cuda: NVIDIA H100 80GB HBM3").to_parquet(steps)
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"results_dir": str(tiny_run)}))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    try:
        run = subprocess.run(
            [sys.executable, str(ROOT / "workflow_scripts/summarise.py"), "--configfile", "config/tiny.yaml", override],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        steps.write_bytes(original)
        os.utime(steps, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert run.returncode != 0
    assert "MixedDevices" in run.stderr and f"unlearn {METHODS[0]} all {name} 1" in run.stderr
    assert "cuda: NVIDIA H100 80GB HBM3 (float32)" in run.stderr and "cpu (float32)" in run.stderr
    assert (tiny_run / "summary/claims.parquet").read_bytes() == summary


def test_every_audited_unit_has_its_audits_and_the_replay_matched_the_run(tiny_run):
    """config/tiny.yaml audits replicate 1 with every audit: both states, three relearning
    sources, two widths; each job replayed its unlearning run exactly (CPU)."""
    audits = TINY["audits"]
    for m in METHODS:
        for name in AUDITED:
            unit = tiny_run / f"audits/{m}/batch-all/{name}/seed1"
            status = json.loads((unit / "status.json").read_text())
            assert status["replay_max_abs_bits"] == 0.0 and status["device"] == "cpu"
            assert "last" in status["states"]
            evaluations = pd.read_parquet(unit / "evaluations.parquet")
            for state in status["states"]:
                found = evaluations[evaluations["state"] == state]
                assert set(found["variant"]) == {"fp32", "int8", "int4", *audits["relearn"]["sources"]}
                relearnt = found[found["audit"] == "relearn"]
                assert sorted(set(relearnt["step"])) == audits["relearn"]["eval_steps"]
            assert evaluations["bleu"].between(0, 100).all() and evaluations["extraction_rate"].between(0, 1).all()
            examples = pd.read_parquet(unit / "examples.parquet")
            assert {"forget", "population", "neighbour_trained", "neighbour_unseen"} <= set(examples["group"])


def test_the_default_audit_settings_run(tiny_run, tmp_path):
    """config.yaml's audits block (one state, one relearning source, one width; the tiny
    study audits every source) on one tiny unit: the variants asked for, no other."""
    results = tmp_path / "results"
    shutil.copytree(tiny_run, results)
    default = yaml.safe_load((ROOT / "config.yaml").read_text())["audits"]
    edit = {"audits": {**default, **{k: TINY["audits"][k] for k in ("replicates", "groupings")}}}
    target = results / f"audits/{METHODS[0]}/batch-all/{AUDITED[0]}/seed1/examples.parquet"
    # the copy has no Snakemake record of its own (params), so the job is forced
    run = snakemake(
        results, "--rerun-triggers", "mtime", "--forcerun", str(target), "--", str(target), extra_config=edit
    )
    assert run.returncode == 0, run.stderr[-3000:]
    examples = pd.read_parquet(target)
    variants = examples.groupby("audit")["variant"].unique().map(set).to_dict()
    assert variants == {
        "original": {"fp32"},
        "unlearnt": {"fp32"},
        "relearn": set(default["relearn"]["sources"]),
        "quantisation": {f"int{bits}" for bits in default["quantisation"]["bits"]},
    }
    assert set(examples["state"]) == {"before", *default["states"]}


def test_recovery_and_membership_recomputed_from_the_raw_tables(tiny_run):
    """Recovery (forget set's excess rise over the reference population, as a share of the
    GenEx removed) and the membership AUC, recomputed by hand from one unit's audit
    examples table, equal the summary's; the controls' recovery, the same measure on
    never-trained members, is small against the forget set's removed GenEx."""
    from unlearn_study.analysis.audits import control_ids

    name = AUDITED[0]
    examples = pd.read_parquet(tiny_run / f"audits/{METHODS[0]}/batch-all/{name}/seed1/examples.parquet")
    recovered = pd.read_parquet(tiny_run / "summary/audit_recovery.parquet")
    members = pd.read_parquet(tiny_run / "summary/audit_membership.parquet")

    def bits(audit, group, state="last", variant="fp32", step=None):
        rows = examples[(examples["audit"] == audit) & (examples["group"] == group) & (examples["variant"] == variant)]
        rows = rows[rows["state"] == ("before" if audit == "original" else state)]
        if step is not None:
            rows = rows[rows["step"] == step]
        return rows.set_index("example_id")

    original, unlearnt = bits("original", "forget"), bits("unlearnt", "forget")
    last = int(TINY["audits"]["relearn"]["eval_steps"][-1])
    after = bits("relearn", "forget", variant="retain", step=last)
    pop_unlearnt, pop_after = bits("unlearnt", "population"), bits("relearn", "population", variant="retain", step=last)
    controls = control_ids(pop_after.index, len(after))
    reference = pop_after.index[~pop_after.index.isin(controls)]
    rho = ((pop_unlearnt["bits"] - pop_after["bits"])[reference] / (pop_after["target_len"][reference] + 1)).mean()
    excess = unlearnt["bits"] - after["bits"] - rho * (after["target_len"] + 1)
    removed = unlearnt["bits"] - original["bits"]
    row = recovered[
        (recovered["forget_set"] == name)
        & (recovered["method"] == METHODS[0])
        & (recovered["state"] == "last")
        & (recovered["variant"] == "retain")
        & (recovered["step"] == last)
    ]
    assert len(row) == 1
    assert row["recovery"].iloc[0] == pytest.approx(excess.mean() / removed.mean())
    assert row["removed_bits"].iloc[0] == pytest.approx(removed.mean())

    def statistic(rows):
        return (rows["bits_out"] - rows["bits"]) / np.sqrt(rows["target_len"] + 1)

    forget_u, population_u = statistic(unlearnt), statistic(pop_unlearnt)
    auc = ((forget_u.to_numpy()[:, None] > population_u.to_numpy()[None, :]).mean()) + 0.5 * (
        forget_u.to_numpy()[:, None] == population_u.to_numpy()[None, :]
    ).mean()
    member = members[(members["forget_set"] == name) & (members["method"] == METHODS[0]) & (members["state"] == "last")]
    assert member["lira_mode"].iloc[0] == "pooled"  # one seed per half
    assert member["auc"].iloc[0] == pytest.approx(auc)
    claims = pd.read_parquet(tiny_run / "summary/claims.parquet")
    exploratory = claims[claims["exploratory"]]
    assert {c.split("_")[0] for c in exploratory["claim"]} == {"X1", "X2", "X3", "X4", "X5"}
    assert not exploratory.duplicated(["claim", "method", "batch", "kind", "rule"]).any()  # one MLflow tag each
    assert ((exploratory["low"] <= exploratory["estimate"]) | exploratory["low"].isna()).all()
    assert "Does it stay forgotten?" in (tiny_run / "summary/summary.md").read_text()
