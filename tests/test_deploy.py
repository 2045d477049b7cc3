"""The deploy files without a Docker engine: docker-compose.yml against the Compose
Specification's JSON schema, every setting consistent with the code (env vars, ports,
topics, roles, metric names), Grafana provisioning, and promtool on the Prometheus files.

The Compose schema is the ``compose/config/compose_spec.json`` that the PyPI
``docker-compose`` 1.29.2 wheel ships (the compose-spec project's schema, draft 2019-09),
fetched with pip at test time, not vendored.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from kasper.streams.cli.worker_cmd import ROLES, parse_roles
from kasper.streams import topics

from tests.prometheus_setup import (ALERTS, DASHBOARDS, DEPLOY, REPO, alert_rules, dashboard_queries,
                                    prometheus_tools)

COMPOSE = REPO / "docker-compose.yml"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
GRAFANA = DEPLOY / "grafana"
SPEC_WHEEL = ("docker-compose", "1.29.2")
SPEC_MEMBER = "compose/config/compose_spec.json"
# Its $schema is draft 2019-09 (spelled http://...#, which jsonschema does not look up).
SPEC_VALIDATOR = jsonschema.Draft201909Validator
# Exported metrics that no dashboard shows, and why.
NOT_ON_DASHBOARD = {
    "kasper_trainer_diverged": "the same count as kasper_trainer_runs_total{outcome=\"diverged\"}, which is shown",
    # The in-process prefill judge's own batch figures: the Prometheus-watched test run uses a
    # remote judge, where a panel of them would stay empty; docs/judge.md reads them.
    "kasper_judge_prefill_batch_rows": "prefill judge only (docs/judge.md)",
    "kasper_judge_prefill_batch_seconds": "prefill judge only (docs/judge.md)",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="session")
def compose_schema(tmp_path_factory) -> dict:
    dest = tmp_path_factory.mktemp("compose-spec")
    name, version = SPEC_WHEEL
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-cache-dir", "--no-deps",
                    "--only-binary", ":all:", "--dest", str(dest), f"{name}=={version}"],
                   check=True, capture_output=True)
    [wheel] = dest.glob("docker_compose-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return json.loads(archive.read(SPEC_MEMBER))


def workers(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items()
            if (svc.get("command") or [None])[0] == "worker"}


def env_of(service: dict) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


# --- Compose Specification ---------------------------------------------------------

def test_compose_file_is_valid_against_the_compose_specification(compose, compose_schema):
    assert compose_schema["title"] == "Compose Specification"
    assert "2019-09" in compose_schema["$schema"]
    SPEC_VALIDATOR.check_schema(compose_schema)
    errors = sorted(SPEC_VALIDATOR(compose_schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("mutate", [
    lambda c: c["services"]["kafka"].update(imagee="typo"),
    lambda c: c["services"]["worker-train"].update(depends_on={"topics": {"condition": "whenever"}}),
    lambda c: c["services"]["prometheus"].update(ports="9090:9090"),
    lambda c: c.update(servics={}),
], ids=["unknown-key", "bad-condition", "ports-not-a-list", "unknown-top-level"])
def test_the_schema_check_rejects_broken_compose_files(compose, compose_schema, mutate):
    broken = copy.deepcopy(compose)
    mutate(broken)
    validator = SPEC_VALIDATOR(compose_schema)
    assert list(validator.iter_errors(broken))


def test_compose_has_the_production_services(compose):
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    kafka_env = env_of(services["kafka"])
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"] and "broker" in kafka_env["KAFKA_PROCESS_ROLES"]
    assert "ZOOKEEPER" not in json.dumps(kafka_env).upper()  # KRaft only
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # the catalog creates topics
    assert "schema-registry" in services["schema-registry"]["image"]
    assert services["topics"]["command"] == ["topics", "create"]
    assert {"prometheus", "grafana"} <= set(services)
    for name, svc in workers(compose).items():
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert (REPO / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_workers_run_every_role_exactly_once(compose):
    seen: list[str] = []
    for name, svc in workers(compose).items():
        command = svc["command"]
        roles = parse_roles(command[command.index("--agents") + 1])
        assert name == "worker-" + "-".join(roles)
        seen += roles
    assert sorted(seen) == sorted(ROLES)


# --- settings, ports, topics --------------------------------------------------------

def settings_env_names() -> set[str]:
    from kasper.streams import settings

    classes = [settings.KafkaSettings, settings.RegistrySettings, settings.BrokerSettings,
               settings.ModelSettings, settings.JudgeSettings, settings.TrainerSettings,
               settings.ObservabilitySettings, settings.GenerateSettings, settings.OpenAIGenerateSettings]
    return {cls.model_config["env_prefix"] + field.upper() for cls in classes for field in cls.model_fields}


def dockerfile_env() -> dict[str, str]:
    env = {}
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            env.update(dict(pair.split("=", 1) for pair in line[4:].split()))
    return env


def test_every_kasper_variable_is_a_settings_field_and_parses(compose, monkeypatch):
    known = settings_env_names()
    used = {k for svc in compose["services"].values() for k in env_of(svc) if k.startswith("KASPER_")}
    used |= set(dockerfile_env())
    assert used and not used - known, f"not a settings field: {sorted(used - known)}"
    from kasper.streams.settings import Settings

    for name, svc in {**workers(compose), "topics": compose["services"]["topics"]}.items():
        for key in [k for k in list(__import__("os").environ) if k.startswith("KASPER_")]:
            monkeypatch.delenv(key)
        for key, value in {**dockerfile_env(), **env_of(svc)}.items():
            if value is not None:  # null: taken from the operator's shell, if set
                monkeypatch.setenv(key, str(value))
        settings = Settings()  # raises on a value that does not parse
        assert settings.kafka.bootstrap_servers == "kafka:9092", name
        assert settings.registry.url == "http://schema-registry:8081", name
        assert settings.observability.metrics_host == "0.0.0.0", name


def test_prometheus_scrapes_every_worker_on_its_metrics_port(compose):
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "kasper"]
    scraped = {}
    for static in job["static_configs"]:
        for target in static["targets"]:
            host, port = target.rsplit(":", 1)
            scraped[host] = (int(port), static["labels"]["role"])
    assert set(scraped) == set(workers(compose))
    for name, svc in workers(compose).items():
        port, role = scraped[name]
        env = {**dockerfile_env(), **env_of(svc)}
        assert int(env["KASPER_METRICS_PORT"]) == port
        assert str(port) in [str(p) for p in svc["expose"]]
        assert role == svc["command"][svc["command"].index("--agents") + 1]


def test_prometheus_and_grafana_mounts_point_at_the_deploy_files(compose):
    prom = compose["services"]["prometheus"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in prom["volumes"] if v.startswith("./"))
    assert mounts == {"./deploy/prometheus": "/etc/prometheus"}
    [config_arg] = [a for a in prom["command"] if a.startswith("--config.file=")]
    config_path = config_arg.split("=", 1)[1]
    assert config_path.startswith("/etc/prometheus/")
    local = DEPLOY / "prometheus" / Path(config_path).relative_to("/etc/prometheus")
    assert local == PROMETHEUS_YML and local.is_file()
    for rule_file in yaml.safe_load(local.read_text())["rule_files"]:
        assert (local.parent / rule_file).is_file()

    grafana = compose["services"]["grafana"]
    binds = {v.split(":")[1]: REPO / v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    provisioning = binds["/etc/grafana/provisioning"]
    assert (provisioning / "datasources").is_dir() and (provisioning / "dashboards").is_dir()
    [provider] = yaml.safe_load((provisioning / "dashboards" / "kasper.yml").read_text())["providers"]
    dashboards_dir = binds[provider["options"]["path"]]
    assert dashboards_dir == GRAFANA / "dashboards" and list(dashboards_dir.glob("*.json"))
    home = env_of(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards_dir / Path(home).relative_to(provider["options"]["path"])).is_file()


def test_grafana_datasource_is_the_compose_prometheus_and_dashboards_use_it(compose):
    [source] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus"
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", source["url"]).groups()
    assert host in compose["services"] and host == "prometheus"
    assert any(p.endswith(f":{port}") for p in compose["services"]["prometheus"]["ports"])
    assert DASHBOARDS
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
            assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"])
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]


def deploy_texts() -> dict[str, str]:
    files = [COMPOSE, PROMETHEUS_YML, ALERTS, *DASHBOARDS]
    return {p.name: p.read_text() for p in files}


def test_topic_names_in_the_deploy_files_are_catalog_topics():
    referenced = {name: set(re.findall(r"\bkasper\.[a-z][a-z-]*[a-z]\b", text))
                  for name, text in deploy_texts().items()}
    all_names = set().union(*referenced.values())
    assert {topics.GRADES.name, topics.INSIGHTS.name, topics.DLQ.name} <= all_names
    for name, found in referenced.items():
        assert found <= set(topics.BY_NAME), f"{name}: unknown topics {sorted(found - set(topics.BY_NAME))}"


def exported_metric_names() -> set[str]:
    """Every sample name the worker modules register (``_total``, ``_bucket``... included)."""
    import importlib

    from prometheus_client import REGISTRY

    for module in ("kasper.streams.metrics", "kasper.agents.generation", "kasper.agents.judge",
                   "kasper.agents.judging.client", "kasper.agents.judging.limits", "kasper.agents.judging.parse",
                   "kasper.agents.route", "kasper.agents.grade", "kasper.agents.runtime.hot_swap",
                   "kasper.agents.written", "kasper.trainer.metrics"):
        importlib.import_module(module)
    return {n for n in REGISTRY._names_to_collectors if n.startswith("kasper_")}


def test_every_metric_in_alerts_and_dashboards_is_exported_by_the_code():
    exported = exported_metric_names()
    exprs = [e for *_, e in dashboard_queries()] + [r["expr"] for r in alert_rules()]
    used = {m for e in exprs for m in re.findall(r"\bkasper_[a-z_]+\b", e)}
    assert len(used) > 30
    assert not used - exported, f"not exported: {sorted(used - exported)}"
    # And every exported metric family is on a dashboard (_created samples are Prometheus bookkeeping).
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in exported}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", m) for m in used}
    missing = families - shown - set(NOT_ON_DASHBOARD)
    assert not missing, f"exported but on no dashboard: {sorted(missing)}"


# --- promtool -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def promtool() -> str:
    return prometheus_tools()[1]


def test_promtool_accepts_the_config_and_the_rules(promtool):
    for args in (["check", "config", str(PROMETHEUS_YML)], ["check", "rules", str(ALERTS)]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout + done.stderr
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names)) >= 8


def test_alerts_fire_on_their_unit_test_series(promtool):
    """deploy/prometheus/alerts_test.yml: each alert fires when it should and not before."""
    tests = DEPLOY / "prometheus" / "alerts_test.yml"
    tested = {t["alertname"] for case in yaml.safe_load(tests.read_text())["tests"]
              for t in case["alert_rule_test"] if t.get("exp_alerts")}
    assert tested == {r["alert"] for r in alert_rules()}
    done = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True,
                          cwd=tests.parent)
    assert done.returncode == 0, done.stdout + done.stderr
