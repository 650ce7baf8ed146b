import copy
from pathlib import Path

import pytest
import yaml

from unlearn_study import methods
from unlearn_study.data import sources
from unlearn_study.infra import config as config_module
from unlearn_study.infra.config import ConfigError, load_config, validate_config
from unlearn_study.infra.provenance import stable_hash

ROOT = Path(__file__).resolve().parents[1]


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_and_tiny_configs_validate():
    config = validate_config(default_config())
    assert config["model"]["seeds"] == [1]
    tiny = load_config(ROOT / "config" / "tiny.yaml")  # an overlay: every other key from config.yaml
    assert tiny["canaries"]["seed"] == 3 and tiny["canaries"]["per_level"] == 18


def test_config_yaml_is_the_one_source_of_values():
    """The schema gives no defaults and requires every key, so config.yaml must hold each."""
    text = (ROOT / "schemas" / "config.schema.yaml").read_text()
    assert "default:" not in text and "default " not in text

    def check(node, where):
        if where == "config.unlearning.method_args":
            return  # optional overrides of the defaults in each method's module
        if node.get("type") == "object" and node.get("properties"):
            optional = set(sources.REGISTRY) if where == "config.corpus" else set()  # only the configured one's
            assert set(node["required"]) == set(node["properties"]) - optional, where
            for key, child in node["properties"].items():
                check(child, f"{where}.{key}")

    check(config_module.schema(), "config")
    config = default_config()
    del config["unlearning"]["lr"]
    with pytest.raises(ConfigError, match="config key 'unlearning.lr': .*config.yaml"):
        validate_config(config)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["canaries"].update(per_levle=3), "canaries.per_levle"),
        (lambda c: c.update(extra=1), "extra"),
        (lambda c: c["canaries"].update(per_level=-2), "canaries.per_level"),
        (lambda c: c["canaries"].update(per_level=0), "canaries.per_level"),
        (lambda c: c["model"].update(lr="fast"), "model.lr"),
        (lambda c: c["corpus"].update(source="wiki"), "corpus.source"),
        (lambda c: c["canaries"].update(repetitions=[]), "canaries.repetitions"),
        (lambda c: c["corpus"]["bible"].update(test_books=[31]), "corpus.bible.test_books"),
        (lambda c: c["corpus"].update(source="files"), "corpus.files.src_file"),
        (lambda c: c["canaries"].update(n_population=5), "canaries.n_population"),
        (lambda c: c["unlearning"].update(eval_steps=[0, 10, 500]), "unlearning.eval_steps"),
        (lambda c: c["unlearning"].update(eval_steps=[5, 10]), "unlearning.eval_steps"),
        (lambda c: c["unlearning"].update(methods=["fisher"]), "unlearning.methods"),
        (lambda c: c["unlearning"].update(method_args={"npo": {"beta": -1}}), "unlearning.method_args.npo.beta"),
        (lambda c: c["unlearning"].update(method_args={"npo": {"gamma": 1}}), "unlearning.method_args.npo.gamma"),
    ],
)
def test_bad_config_names_the_key(mutate, key):
    config = copy.deepcopy(default_config())
    mutate(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert f"'{key}" in str(err.value)
    assert "\n" not in str(err.value)  # one message, not a schema dump


def test_allowed_methods_come_from_the_registry():
    config = default_config()
    config["unlearning"]["methods"] = ["fisher"]
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert all(name in str(err.value) for name in methods.REGISTRY)


def test_unknown_key_lists_allowed_keys():
    config = default_config()
    config["canaries"]["lenght"] = 5
    with pytest.raises(ConfigError, match="allowed keys here: .*length"):
        validate_config(config)


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_buckets_too_small_for_their_replicates_are_rejected():
    config = default_config()
    config["forget_sets"]["replicates"] = 2 * (config["id_sets"]["per_level"] // 2 // config["forget_sets"]["size"]) + 1
    with pytest.raises(ConfigError, match=r"'forget_sets.replicates': .* id_sets.per_level .*in one half"):
        validate_config(config)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["unlearning"].update(seeds=[2]), "unlearning.seeds"),
        (lambda c: c["unlearning"]["calibration"].update(mode="per_example"), "unlearning.calibration.mode"),
        (lambda c: c["claims"].update(fixed_step=7), "claims.fixed_step"),
    ],
)
def test_models_and_claims_keys_are_checked(mutate, key):
    config = default_config()
    mutate(config)
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        validate_config(config)
