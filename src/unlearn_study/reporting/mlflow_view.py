"""What the MLflow 3.17 web UI shows first, and the link that opens it.

Facts read in MLflow 3.17.2's UI bundle (``mlflow/server/js/build/static/js``; source
files named as in github.com/mlflow/mlflow ``mlflow/server/js/src``):

- ``ExperimentKindUtils.ts``: the experiment tag ``mlflow.experimentKind`` holds the
  experiment's kind; ``custom_model_development`` is "Machine learning" (the sidebar calls
  it "Model training"), ``genai_development`` the GenAI kind. In 3.17 workflow-based
  navigation is on (``FeatureUtils.ts``: ``shouldEnableWorkflowBasedNavigation`` returns
  true), so the page follows ``WorkflowTypeContext.tsx`` instead: the URL query parameter
  ``workflowType`` (``genai`` | ``machine_learning``), else the browser's localStorage
  ``mlflow.workflowType_v1``, else ``genai``. A fresh browser therefore opens every
  experiment on the GenAI overview, tag or not; the link from :func:`ui_url` carries
  ``workflowType=machine_learning``. The tag is still set: the experiment header's kind
  selector shows it.
- ``compareRunsMode=CHART`` in the query opens the runs page's chart view.
- ``viewStateShareKey=KEY`` loads the view stored as JSON in the experiment tag
  ``mlflow.sharedViewState.KEY`` (the UI's "share view"): search facets (``searchFilter``,
  ``orderByKey``...) and the UI state (``groupBy``, ``runsHiddenMode``,
  ``compareRunCharts``...). Expanded parent runs are not part of it, and by default only
  the first 10 rows are drawn in the charts (``runsHiddenMode: FIRST_10_RUNS``).
- A child run (tag ``mlflow.parentRunId``) is listed under its parent, collapsed, and a
  collapsed parent hides its children from the charts: a study whose jobs were children
  of one Snakemake run showed one row and "Model metrics (0)". Job runs are therefore
  top-level runs linked to their invocation by another tag (``tracking.INVOCATION_TAG``).
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
VIEW_KEY = "study"


@dataclass(frozen=True)
class View:
    """The runs page a researcher wants first: which runs, grouped how, which curves.

    The defaults fit the unlearning jobs (rule ``unlearn``, param ``kind`` = id | ood,
    per-step metrics ``genex_mean`` and ``bleu``); nothing else in tracking depends on them.
    """

    search_filter: str = "tags.rule = 'unlearn'"
    group_by: tuple[tuple[str, str], ...] = (("param", "kind"), ("param", "method"))  # (param | tag, key)
    aggregate: str = "average"  # min | average | max over the runs of a group
    metrics: tuple[str, ...] = ("genex_mean", "bleu")  # first charts; every other metric follows
    x_axis: str = "step"
    extra: dict = field(default_factory=dict)  # more UI state keys, verbatim

    def state(self) -> dict:
        """The JSON the UI reads from the shared-view tag."""
        section = "study"
        charts = [
            {
                "uuid": f"study-{metric}",
                "type": "LINE",
                "metricSectionId": section,
                "deleted": False,
                "isGenerated": False,
                "metricKey": metric,
                "selectedMetricKeys": [metric],
                "displayName": metric,
                "xAxisKey": self.x_axis,
                "selectedXAxisMetricKey": "",
                "scaleType": "linear",
                "xAxisScaleType": "linear",
                "lineSmoothness": 0,
                "useGlobalXaxisKey": True,
                "useGlobalLineSmoothing": True,
                "yAxisKey": "METRIC",
                "yAxisExpressions": [],
                "ignoreOutliers": False,
                "runsCountToCompare": 10,
                "range": {"xMin": None, "xMax": None, "yMin": None, "yMax": None},
            }
            for metric in self.metrics
        ]
        return {
            "searchFilter": self.search_filter,
            "orderByKey": "attributes.start_time",
            "orderByAsc": False,
            "groupBy": {
                "aggregateFunction": self.aggregate,
                "groupByKeys": [{"mode": mode, "groupByData": key} for mode, key in self.group_by],
            },
            "groupsExpanded": {},
            "useGroupedValuesInCharts": True,
            "runsHiddenMode": "SHOW_ALL",
            "hideEmptyCharts": True,
            # isReordered: the UI appends the charts of all other metrics after these ones
            "compareRunSections": [{"uuid": section, "name": "Model metrics", "display": True, "isReordered": True}],
            "compareRunCharts": charts,
            "isAccordionReordered": True,
            "globalLineChartConfig": {"xAxisKey": self.x_axis, "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
            **self.extra,
        }


DEFAULT_VIEW = View()


def experiment_tags(view: View = DEFAULT_VIEW, key: str = VIEW_KEY) -> dict[str, str]:
    """Tags that mark the experiment as model training and store ``view`` under ``key``."""
    return {
        EXPERIMENT_KIND_TAG: EXPERIMENT_KIND,
        SHARED_VIEW_TAG_PREFIX + key: json.dumps(view.state(), separators=(",", ":")),
    }


def tags_to_set(current: dict, view: View = DEFAULT_VIEW, key: str = VIEW_KEY) -> dict[str, str]:
    """Of :func:`experiment_tags`, those the experiment lacks; a kind someone chose is kept."""
    wanted = experiment_tags(view, key)
    if current.get(EXPERIMENT_KIND_TAG):
        del wanted[EXPERIMENT_KIND_TAG]
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def prepare(tracking_uri: str, base_url: str) -> list[tuple[str, str]]:
    """Tag every experiment that has runs (see :func:`tags_to_set`); (name, link) of each."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    links = []
    for experiment in client.search_experiments():
        if not client.search_runs([experiment.experiment_id], max_results=1):
            continue
        for k, v in tags_to_set(experiment.tags).items():
            client.set_experiment_tag(experiment.experiment_id, k, v)
        links.append((experiment.name, ui_url(base_url, experiment.experiment_id)))
    return links


def ui_url(base_url: str, experiment_id: str, key: str | None = VIEW_KEY, charts: bool = True) -> str:
    """Link to the experiment's runs page in the model-training UI, with the stored view."""
    query = {"workflowType": "machine_learning"}
    if charts:
        query["compareRunsMode"] = "CHART"
    if key:
        query["viewStateShareKey"] = key
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{urllib.parse.urlencode(query)}"


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(
        description="Tag the experiments of a tracking store for the UI and print their links."
    )
    ap.add_argument("tracking_uri", help="e.g. sqlite:///results/mlflow.db")
    ap.add_argument("base_url", nargs="?", default="http://127.0.0.1:5000", help="where the UI will listen")
    args = ap.parse_args(argv)
    links = prepare(args.tracking_uri, args.base_url)
    if not links:
        print(f"{args.tracking_uri}: no runs yet")
    for name, url in links:
        print(f"MLflow UI, experiment {name!r} (model training, unlearning runs grouped by kind and method):\n  {url}")


if __name__ == "__main__":
    main()
