"""A metric added as one module reaches the step tables, MLflow's columns, the summary's
metric table and its figure; the registered metrics compute what METHOD.md says."""

import numpy as np
import pandas as pd
import pytest
from test_unlearning import run

from unlearn_study import metrics
from unlearn_study.analysis import groups, uncertainty, units
from unlearn_study.metrics import core
from unlearn_study.reporting import figures, markdown


@pytest.fixture
def forget_nats():
    """The README's example metric, registered for one test."""

    @metrics.register
    class ForgetNats(metrics.Metric):
        name = "forget_nats"
        label = "forget set loss"
        unit = "nats"
        per = "example"
        worse = "lower"
        bounds = (0.0, None)
        digits = 1

        def compute(self, s):
            return s.forget_bits * core.LN2

    yield metrics.REGISTRY["forget_nats"]
    del metrics.REGISTRY["forget_nats"]


def test_a_new_metric_reaches_every_table_and_the_figure(tiny_model, forget_nats, tmp_path):
    result = run(tiny_model)
    examples, steps = result.examples, result.steps
    np.testing.assert_allclose(examples["forget_nats"], examples["bits"] * np.log(2))
    by_step = examples.groupby("step")["forget_nats"].mean()
    np.testing.assert_allclose(steps.set_index("step")["forget_nats_mean"], by_step)
    assert "forget_nats_mean" in [m.column for m in metrics.REGISTRY.values()]  # what the job logs to MLflow

    unit = {"method": "gradient_ascent", "batch": "all", "forget_set": "id-difficulty-easy-r1", "seed": 1}
    labels = {"grouping": "difficulty", "bucket": "easy", "replicate": 1, "half": "A"}
    steps = steps.assign(**unit, **labels, kind="id", status=result.status)
    examples = examples.assign(**unit, **labels)
    # no tests in this job (EvalData.tests is None): a minimal trace at the evaluated steps,
    # every example inside the strict band (unlearnt at step 0) and none inside the specific one
    assert result.trace is None
    trace = examples[["example_id", "step", "target_len", "bits", "genex"]].assign(
        **unit, **labels, kind="id", strict=True, specific=False
    )
    steps = units.annotate(steps, trace)
    assert steps["n_strict"].tolist() == [6, 6, 6] and steps["n_specific"].tolist() == [0, 0, 0]
    table = units.per_unit(steps, examples, trace, tau=0.0, alpha=0.05, fixed_step=2)
    assert table.loc[0, "forget_nats_step0"] == pytest.approx(by_step[0])
    assert table.loc[0, "forget_nats_at_unlearning"] == pytest.approx(by_step[0])  # strict at step 0
    assert table.loc[0, "forget_nats_final"] == pytest.approx(by_step[4])
    assert table.loc[0, "steps_strict"] == 0 and not table.loc[0, "detectable"] and table.loc[0, "censored_specific"]
    references = tiny_model.lines("test")[1][:10]
    translations = result.translations.assign(**unit)
    boot = uncertainty.uncertainty(table, translations, references, n=10, level=0.95, seed=1, max_step=4)
    metric_table = groups.metric_table(boot)
    assert "forget_nats" in set(metric_table["metric"])
    section = markdown.metrics_section(metric_table, 0.95, boot.conditional_on)
    assert "forget set loss (nats)" in "\n".join(section)
    figures.metric_curves(steps, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_registered_metrics_by_hand():
    forget = pd.DataFrame({"target_len": [3, 1], "bits_out": [20.0, 6.0], "tgt": ["w x y", "z"]})
    scores = metrics.StepScores(
        step=2,
        forget=forget,
        forget_bits=np.array([8.0, 4.0]),  # bits/token 2 and 2
        forget_hypotheses=["w x y", "z z"],  # the first extracted, the second not
        population_bpt=np.array([1.0, 3.0, 5.0]),
        population_bpt0=np.array([1.0, 2.0, 9.0]),  # median 2
        neighbours=pd.DataFrame(
            {"forget_id": ["a", "a", "b"], "group": ["trained", "unseen", "trained"], "example_id": ["t", "u", "t"]}
        ),
        neighbour_delta_bpt=pd.Series({"t": 0.5, "u": -0.25}),
        test_bpt=np.array([1.0, 2.0]),
        retain_bpt=np.array([4.0]),
        hypotheses=["a b c d", "e f", "g"],
        references=["a b c d", "e f", "h"],
    )
    per_example, step = metrics.evaluate(scores)
    np.testing.assert_allclose(per_example["genex"], [12.0, 2.0])  # bits_out - bits
    np.testing.assert_allclose(per_example["relex"], [4 * 2 - 8.0, 2 * 2 - 4.0])  # (|y|+1) median - bits
    np.testing.assert_allclose(per_example["bpt"], [2.0, 2.0])
    # rank 1 + #{1.0 < 2} = 2 of |R|+1 = 4: log2 4 - log2 2 = 1
    np.testing.assert_allclose(per_example["exposure_rank"], [1.0, 1.0])
    assert step["genex_mean"] == 7.0 and step["forget_bpt"] == 2.0
    assert step["test_bpt"] == 1.5 and step["retain_bpt"] == 4.0
    assert step["neighbour_trained_delta_bpt"] == 0.5  # t counted for a and for b
    assert step["neighbour_unseen_delta_bpt"] == -0.25
    np.testing.assert_allclose(per_example["extracted"], [1.0, 0.0])
    assert step["extraction_rate"] == 0.5 and step["test_exact_match"] == pytest.approx(2 / 3)
