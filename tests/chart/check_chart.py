#!/usr/bin/env python3
"""Checks the Helm chart helm/guichet with real Helm (`make chart-test`, part of `make test`).

Helm is Helm's own Go library through helm-sdkpy (installed by the Makefile in target/helm-venv):
- `Lint` is `helm lint`. It only takes a chart directory, so each mode's values file is merged
  into a copy of the chart's values.yaml. Lint must pass (no warning, no error) with the default
  values and with each file of helm/guichet/ci/, and fail with values the chart refuses. Helm
  lint runs templates in "lint mode", where `fail` only logs: the refusals lint sees come from
  values.schema.json; helm-sdkpy drops lint messages' text, so only their file is checked.
- `Install`, against a fake API server on loopback (fake_kube.py), is how this library renders
  templates (it has no `helm template`): its errors carry the chart's own messages (`fail`, the
  schema), and its result the rendered manifest and NOTES.txt, which are then checked:
  Kubernetes schemas (kubernetes-validate, strict), the pod's security settings and probes, that
  Service, ServiceMonitor, HPA, PDB and NetworkPolicy point at the Deployment's pods and ports,
  that the ConfigMap's guichet.toml is the values' `config` tree, and that `guichet check`
  accepts it with the Secret's files and the container's environment.

Usage: check_chart.py --guichet target/debug/guichet
"""

import argparse
import base64
import copy
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "guichet"
SECRETS_DIR = "/etc/guichet/secrets/"
CONFIG_PATH = "/etc/guichet/guichet.toml"
K8S_VERSION = "1.31.0"
RELEASE = "guichet"

# Helm keeps releases in memory (not in the fake cluster) and its state (repository cache,
# registry config) out of $HOME. The Go library reads the environment of the process when it
# starts, not later changes: the script starts again with it set.
if os.environ.get("HELM_DRIVER") != "memory":
    home = tempfile.mkdtemp(prefix="guichet-helm-home-")
    env = dict(os.environ, HELM_DRIVER="memory", HELM_CACHE_HOME=home, HELM_CONFIG_HOME=home,
               HELM_DATA_HOME=home, GUICHET_CHART_HELM_HOME=home)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import asyncio  # noqa: E402

import helm_sdkpy as helm  # noqa: E402
import kubernetes_validate  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_kube import FakeKube  # noqa: E402

LINT_WARNING = 2  # helm's support.WarningSev; ErrorSev is 3
# What `guichet check` looks for in a CA file (it is parsed when guichet connects).
FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


class Failure(Exception):
    pass


def merge(base, override):
    """Helm's values merge: maps merge recursively, null removes a key, the rest replaces."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text()) or {}


DEFAULTS = load_yaml(CHART / "values.yaml")
MODES = {p.name: load_yaml(p) for p in sorted((CHART / "ci").glob("*-values.yaml"))}


# ---------------------------------------------------------------------------------------- helm

def lint(values):
    """Real `helm lint` of a copy of the chart whose values.yaml is the defaults merged with
    `values`. Returns [(severity, path)] of its warnings and errors."""
    with tempfile.TemporaryDirectory(prefix="guichet-lint-") as tmp:
        chart = Path(tmp) / "guichet"
        shutil.copytree(CHART, chart)
        (chart / "values.yaml").write_text(yaml.safe_dump(merge(DEFAULTS, values), sort_keys=False))
        # Lint mode logs each `fail` it skips on stderr: noise here, the cases say what matters.
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
            result = asyncio.run(helm.Lint(helm.Configuration()).run(str(chart)))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return [(m["Severity"], m["Path"]) for m in result.get("Messages") or []
            if m["Severity"] >= LINT_WARNING]


def render(values, skip_schema=False):
    """Real `helm install` of the chart with `values` (over its values.yaml) into a fake API
    server. Returns (manifests, notes); raises helm.InstallError with Helm's message."""
    with FakeKube() as kube:
        config = helm.Configuration(namespace="demarches", kubeconfig=kube.kubeconfig)
        release = asyncio.run(helm.Install(config).run(
            RELEASE, str(CHART), values=values, wait=False, timeout=30,
            skip_schema_validation=skip_schema))
    manifests = [release["manifest"]] + [h["manifest"] for h in release.get("hooks") or []]
    docs = [d for m in manifests for d in yaml.safe_load_all(m) if d]
    return docs, release.get("info", {}).get("notes", "")


def render_error(values, skip_schema=False):
    try:
        render(values, skip_schema)
    except helm.InstallError as e:
        return str(e)
    raise Failure("Helm rendered values the chart must refuse")


# ------------------------------------------------------------------------------------ fixtures

class Fixtures:
    """Secret contents good enough for `guichet check`: keys made by `guichet keygen`."""

    def __init__(self, guichet):
        self.guichet = guichet
        self.keys = {}
        self.client_secret = secrets.token_hex(24)
        self.redis_password = secrets.token_hex(8)
        self.seal_key = base64.b64encode(secrets.token_bytes(32)).decode()

    def key(self, alg):
        if alg not in self.keys:
            out = subprocess.run([self.guichet, "keygen", "--alg", alg], check=True,
                                 capture_output=True, text=True, timeout=60)
            self.keys[alg] = out.stdout
        return self.keys[alg]

    def for_config(self, config):
        """reference ("file:..." / "env:...") -> content, from where it appears in the config."""
        refs = {}
        for p in config.get("providers", []):
            if "client_secret" in p:
                refs[p["client_secret"]] = self.client_secret
            for k in p.get("decryption_keys", []):
                refs[k["key"]] = self.key(k["alg"])
        for ref in config.get("headers", {}).get("signing_keys", []):
            refs[ref] = self.key("ES256")
        session = config.get("session", {})
        sentinels = session.get("redis_sentinels", [])
        url = session.get("redis_url", "")
        if url.startswith(("env:", "file:")):
            # With sentinels, the URL's host is the master name.
            host = "mymaster" if sentinels else "redis.demarches.svc:6380"
            refs[url] = f"rediss://:{self.redis_password}@{host}/0"
        for ref in sentinels:
            if ref.startswith(("env:", "file:")):
                refs[ref] = f"rediss://:{self.redis_password}@redis.demarches.svc:26379"
        for ref in session.get("seal_keys", []):
            refs[ref] = self.seal_key
        ca = session.get("redis_ca_file", "")
        if ca.startswith(SECRETS_DIR):  # a file of the Secret, read as a path, not a reference
            refs["file:" + ca] = FAKE_CA
        return refs

    def secret_files(self, config):
        return {ref[len("file:" + SECRETS_DIR):]: content
                for ref, content in self.for_config(config).items()
                if ref.startswith("file:" + SECRETS_DIR)}


# ------------------------------------------------------------------------------------- checks

def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def one(kinds, kind):
    found = kinds.get(kind, [])
    if len(found) != 1:
        raise Failure(f"expected one {kind}, found {len(found)}")
    return found[0]


def subset(selector, labels, what):
    missing = {k: v for k, v in selector.items() if labels.get(k) != v}
    if not selector or missing:
        raise Failure(f"{what}: selector {selector} does not select the pods {labels}")


def check_k8s_schemas(docs):
    for d in docs:
        if d["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked by check_service_monitor
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            raise Failure(f"{d['kind']} {d['metadata']['name']}: {e.message} at "
                          f"{'.'.join(str(p) for p in e.path)}") from None


def guichet_container(pod):
    return next(c for c in pod["containers"] if c["name"] == "guichet")


def check_pod(deploy, config):
    pod = deploy["spec"]["template"]["spec"]
    c = guichet_container(pod)
    if c["args"] != ["run", "--config", CONFIG_PATH]:
        raise Failure(f"guichet args {c['args']}")
    psc, sc = pod["securityContext"], c["securityContext"]
    want = {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False}
    for key, value in want.items():
        if sc.get(key) != value:
            raise Failure(f"container securityContext.{key} = {sc.get(key)!r}, want {value!r}")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        raise Failure("container capabilities are not all dropped")
    if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        raise Failure(f"pod securityContext {psc}")
    if pod.get("automountServiceAccountToken") is not False:
        raise Failure("the pod mounts a service account token guichet never uses")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    if ports.get("http") != int(config["server"]["listen"].rsplit(":", 1)[1]):
        raise Failure(f"http port {ports.get('http')} is not config.server.listen's")
    metrics_listen = config.get("metrics", {}).get("listen", "")
    if metrics_listen and ports.get("metrics") != int(metrics_listen.rsplit(":", 1)[1]):
        raise Failure(f"metrics port {ports.get('metrics')} is not config.metrics.listen's")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c[probe]["httpGet"]
        if get["path"] != path or get["port"] != "http":
            raise Failure(f"{probe} is {get}, want {path} on the http port")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in (CONFIG_PATH, SECRETS_DIR.rstrip("/"), "/tmp"):
        if path not in mounts or mounts[path]["name"] not in volumes:
            raise Failure(f"nothing mounted at {path}")
    if "checksum/config" not in deploy["spec"]["template"]["metadata"].get("annotations", {}):
        raise Failure("no checksum/config annotation: a config change would not roll the pods")
    return pod, ports


def check_wiring(kinds, pod_labels, ports):
    """Service, ServiceMonitor, HPA, PDB and NetworkPolicies point at these pods and ports."""
    deploy = one(kinds, "Deployment")
    svc = one(kinds, "Service")
    subset(svc["spec"]["selector"], pod_labels, "Service")
    for p in svc["spec"]["ports"]:
        if p["targetPort"] not in ports:
            raise Failure(f"Service port {p['name']} targets {p['targetPort']}, not a container port")
    for sm in kinds.get("ServiceMonitor", []):
        subset(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"], "ServiceMonitor")
        names = {p["name"] for p in svc["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            if ep["port"] not in names or ep.get("path") != "/metrics":
                raise Failure(f"ServiceMonitor endpoint {ep} is not the Service's metrics port")
    for hpa in kinds.get("HorizontalPodAutoscaler", []):
        if hpa["spec"]["scaleTargetRef"]["name"] != deploy["metadata"]["name"]:
            raise Failure("the HPA scales something else")
        if "replicas" in deploy["spec"]:
            raise Failure("Deployment sets replicas although an HPA scales it")
    for pdb in kinds.get("PodDisruptionBudget", []):
        subset(pdb["spec"]["selector"]["matchLabels"], pod_labels, "PodDisruptionBudget")
    for np in kinds.get("NetworkPolicy", []):
        selector = np["spec"]["podSelector"]["matchLabels"]
        if np["metadata"]["name"].endswith("-upstream"):
            peer = np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
            subset(peer, pod_labels, "upstream NetworkPolicy peer")
            continue
        subset(selector, pod_labels, "NetworkPolicy")
        for rule in np["spec"]["ingress"]:
            for p in rule["ports"]:
                if p["port"] not in ports:
                    raise Failure(f"NetworkPolicy opens {p['port']}, not a container port")


def check_config(kinds, pod, values, fixtures, guichet):
    """The ConfigMap's guichet.toml is the values' config, and guichet accepts it."""
    text = one(kinds, "ConfigMap")["data"]["guichet.toml"]
    rendered = tomllib.loads(text)
    if rendered != values["config"]:
        raise Failure("guichet.toml differs from the values' config tree:\n" + text)
    secret = values["secrets"].get("existingSecret")
    if secret:
        files = fixtures.secret_files(rendered)  # what the operator's Secret holds
        volume = next(v for v in pod["volumes"] if v["name"] == "guichet-secrets")
        if volume["secret"]["secretName"] != secret:
            raise Failure("the existing Secret is not the one mounted")
        if "Secret" in kinds:
            raise Failure("the chart made a Secret although existingSecret is set")
    else:
        data = one(kinds, "Secret")["data"]
        files = {k: base64.b64decode(v).decode() for k, v in data.items()}
    container = guichet_container(pod)
    env_names = {e["name"] for e in container.get("env", [])}
    refs = fixtures.for_config(rendered)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    for ref in re.findall(r'"env:([A-Za-z_][A-Za-z0-9_]*)"', text):
        if ref not in env_names and not container.get("envFrom"):
            raise Failure(f"the config reads env:{ref}, which the container does not define")
        env[ref] = refs.get(f"env:{ref}", secrets.token_hex(16))
    with tempfile.TemporaryDirectory(prefix="guichet-config-") as tmp:
        sdir = Path(tmp) / "secrets"
        sdir.mkdir()
        for name, content in files.items():
            (sdir / name).write_text(content)
        path = Path(tmp) / "guichet.toml"
        # References ("file:/etc/guichet/secrets/NAME") and paths (redis_ca_file) alike.
        path.write_text(text.replace(SECRETS_DIR, f"{sdir}/"))
        out = subprocess.run([guichet, "check", "--config", str(path)], env=env,
                             capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise Failure(f"guichet check refuses the rendered config: {out.stderr.strip()}")
    leaked = [n for n, c in files.items() if c.strip() and c.strip() in out.stdout]
    if leaked:
        raise Failure(f"guichet check printed the secret files {leaked}")


def check_test_hook(kinds, pod):
    """`helm test` runs `guichet check` with the same config, Secret and environment."""
    hook = one(kinds, "Pod")
    if hook["metadata"]["annotations"].get("helm.sh/hook") != "test":
        raise Failure("the Pod is not a helm test hook")
    check = hook["spec"]["containers"][0]
    guichet = guichet_container(pod)
    if check["args"] != ["check", "--config", CONFIG_PATH]:
        raise Failure(f"helm test runs {check['args']}")
    for key in ("image", "env", "volumeMounts", "securityContext"):
        if check.get(key) != guichet.get(key):
            raise Failure(f"helm test's {key} differs from guichet's")
    volumes = {v["name"]: v for v in pod["volumes"]}
    for v in hook["spec"]["volumes"]:
        if volumes.get(v["name"]) != v:
            raise Failure(f"helm test's volume {v['name']} differs from the Deployment's")


def check_notes(notes, config):
    public = config["server"]["public_url"].rstrip("/")
    # One redirect URI per provider when there are several (mix-up defence), else one.
    providers = config["providers"]
    if len(providers) > 1:
        want = [f"{public}/.guichet/callback/{p['name']}\n" for p in providers]
        if f"{public}/.guichet/callback\n" in notes:
            raise Failure(f"NOTES.txt names the single-provider redirect URI:\n{notes}")
    else:
        want = [f"{public}/.guichet/callback\n"]
    want.append(f"{public}/.guichet/logged-out")
    if any(p["preset"].startswith("franceconnect-plus") for p in config["providers"]):
        want.append(f"{public}/.guichet/jwks.json")
    for url in want:
        if url not in notes:
            raise Failure(f"NOTES.txt does not tell the operator to register {url}:\n{notes}")


def check_render(overrides, fixtures, guichet):
    values = merge(DEFAULTS, overrides)
    if not values["secrets"].get("existingSecret"):
        overrides = merge(overrides, {"secrets": {"files": fixtures.secret_files(values["config"])}})
        values = merge(DEFAULTS, overrides)
    docs, notes = render(overrides)
    kinds = by_kind(docs)
    check_k8s_schemas(docs)
    deploy = one(kinds, "Deployment")
    pod, ports = check_pod(deploy, values["config"])
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    subset(deploy["spec"]["selector"]["matchLabels"], labels, "Deployment")
    check_wiring(kinds, labels, ports)
    check_config(kinds, pod, values, fixtures, guichet)
    check_test_hook(kinds, pod)
    check_notes(notes, values["config"])
    if values["mode"] == "sidecar":
        names = [c["name"] for c in pod["containers"]]
        want = ["guichet"] + [c["name"] for c in values["sidecar"]["containers"]]
        if names != want:
            raise Failure(f"sidecar pod containers {names}, want {want}")
    return sorted(kinds)


# -------------------------------------------------------------------------------------- cases

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--guichet", required=True, help="the guichet binary (for keygen, check)")
    guichet = str(Path(parser.parse_args().guichet).resolve())
    fixtures = Fixtures(guichet)
    gateway, sidecar = MODES["gateway-values.yaml"], MODES["sidecar-values.yaml"]
    with_secret = {"secrets": {"files": fixtures.secret_files(DEFAULTS["config"])}}
    signing_key = {"config": {"headers": {
        "signing_keys": ["file:/etc/guichet/secrets/signing-key.pem"]}}}
    memory_two = merge(signing_key, {"replicaCount": 2})
    memory_hpa = merge(signing_key, {"autoscaling": {"enabled": True}})
    redis_two_no_key = {"replicaCount": 2, "config": {"session": {
        "store": "redis", "redis_url": "file:/etc/guichet/secrets/redis-url",
        "seal_keys": ["file:/etc/guichet/secrets/seal-key"]}}}
    redis_unsealed = merge(signing_key, {"replicaCount": 2, "config": {"session": {
        "store": "redis", "redis_url": "file:/etc/guichet/secrets/redis-url"}}})
    results = []

    def case(title, fn):
        start = time.monotonic()
        try:
            detail = fn()
        except Failure as e:
            results.append((False, title, str(e)))
            return
        except helm.HelmError as e:
            results.append((False, title, f"Helm: {e}"))
            return
        ms = (time.monotonic() - start) * 1000
        results.append((True, title, f"{detail or ''} ({ms:.0f} ms)".strip()))

    def lint_passes(values):
        def run():
            problems = lint(values)
            if problems:
                raise Failure(f"helm lint: {problems}")
        return run

    def lint_fails_on_values(values):
        def run():
            problems = lint(values)
            if not any(sev > LINT_WARNING and path == "values.yaml" for sev, path in problems):
                raise Failure(f"helm lint did not refuse the values: {problems}")
        return run

    def refused(values, *needles, skip_schema=False, secret_files=True):
        def run():
            if secret_files:  # so that the refusal is the one the case is about
                config = merge(DEFAULTS, values)["config"]
                values_ = merge({"secrets": {"files": fixtures.secret_files(config)}}, values)
            else:
                values_ = values
            message = render_error(values_, skip_schema)
            for needle in needles:
                if needle not in message:
                    raise Failure(f"Helm refused, but not saying {needle!r}: {message}")
        return run

    case("lint: default values", lint_passes({}))
    for name, values in MODES.items():
        case(f"lint: ci/{name}", lint_passes(values))
    case("lint refuses replicaCount 2 with the memory store", lint_fails_on_values(memory_two))
    case("lint refuses replicaCount 2 without a signing key", lint_fails_on_values(redis_two_no_key))
    case("lint refuses autoscaling with the memory store", lint_fails_on_values(memory_hpa))
    case("lint refuses the Redis store without sealing keys", lint_fails_on_values(redis_unsealed))
    case("lint refuses a string where a number is expected",
         lint_fails_on_values({"replicaCount": "two"}))
    case("lint refuses a mistyped value name", lint_fails_on_values({"replicas": 2}))
    case("lint refuses sidecar mode without the application's containers",
         lint_fails_on_values({"mode": "sidecar"}))

    case("install refuses replicaCount 2 with the memory store (schema)",
         refused(memory_two, "/config/session/store", "redis"))
    case("install refuses replicaCount 2 with the memory store (template)",
         refused(memory_two, 'needs config.session.store = "redis"', skip_schema=True))
    case("install refuses autoscaling with the memory store (template)",
         refused(memory_hpa, 'needs config.session.store = "redis"', skip_schema=True))
    case("install refuses replicaCount 2 without a signing key (schema)",
         refused(redis_two_no_key, "/config/headers/signing_keys"))
    case("install refuses replicaCount 2 without a signing key (template)",
         refused(redis_two_no_key, "needs config.headers.signing_keys", skip_schema=True))
    case("install refuses the Redis store without sealing keys (schema)",
         refused(redis_unsealed, "/config/session", "seal_keys"))
    case("install refuses the Redis store without sealing keys (template)",
         refused(redis_unsealed, "needs config.session.seal_keys", "guichet keygen --alg A256GCM",
                 skip_schema=True))
    case("install refuses a sealing key written in the values",
         refused(merge(redis_two_no_key, {"config": {"session": {
             "seal_keys": ["c2VhbGluZyBrZXkgd3JpdHRlbiBpbiB0aGUgdmFsdWVz"]}}}),
             "/config/session/seal_keys/0"))
    case("install refuses a string where a number is expected",
         refused({"config": {"session": {"max_sessions": "lots"}}},
                 "/config/session/max_sessions", "integer"))
    case("install refuses a client secret written in the values",
         refused({"config": {"providers": [{"name": "fc", "preset": "franceconnect-v2",
                                            "client_secret": "hunter2-hunter2-hunter2"}]}},
                 "/config/providers/0/client_secret"))
    case("install refuses a config file missing from the chart's Secret",
         refused({}, "file:/etc/guichet/secrets/fc-client-secret", "secrets.files",
                 secret_files=False))
    case("install refuses a loopback listener",
         refused({"config": {"server": {"listen": "127.0.0.1:8080"}}}, "only listens on loopback",
                 skip_schema=True))
    case("install refuses a sidecar whose upstream is not in the pod",
         refused(merge(sidecar, {"config": {"upstream": {"url": "http://app:3000"}}}),
                 "must be the application in the same pod"))
    case("install refuses a ServiceMonitor with metrics on loopback",
         refused({"metrics": {"serviceMonitor": {"enabled": True}},
                  "config": {"metrics": {"listen": "127.0.0.1:9090"}}},
                 "Prometheus could not scrape"))

    case("render: default values", lambda: check_render({}, fixtures, guichet))
    for name, values in MODES.items():
        case(f"render: ci/{name}", lambda v=values: check_render(v, fixtures, guichet))

    def sentinel_setup_is_wired():
        """ci/sentinel-values.yaml: sentinels and the primary reached as documented, with
        TLS, the sealing key from the Secret, and egress open to Redis's ports only."""
        values = merge(DEFAULTS, MODES["sentinel-values.yaml"])
        docs, _ = render(MODES["sentinel-values.yaml"])
        kinds = by_kind(docs)
        session = tomllib.loads(one(kinds, "ConfigMap")["data"]["guichet.toml"])["session"]
        if session.get("store") != "redis" or not session.get("redis_sentinels"):
            raise Failure(f"not a Sentinel setup: {session}")
        if session.get("seal_keys") != ["file:/etc/guichet/secrets/seal-key"]:
            raise Failure(f"sealing key not from the Secret: {session.get('seal_keys')}")
        env = {e["name"]: e for e in guichet_container(
            one(kinds, "Deployment")["spec"]["template"]["spec"]).get("env", [])}
        for ref in [session["redis_url"], *session["redis_sentinels"]]:
            name = ref.removeprefix("env:")
            value = env.get(name, {}).get("value", "")
            if not value.startswith("rediss://:$(REDIS_PASSWORD)@"):
                raise Failure(f"{ref}: the container's {name} is {value!r}, not a TLS URL")
        if not env["GUICHET_REDIS_URL"]["value"].endswith("@mymaster/0"):
            raise Failure("redis_url's host must be the master name")
        policy = next(n for n in kinds["NetworkPolicy"]
                      if not n["metadata"]["name"].endswith("-upstream"))
        ports = {p["port"] for rule in policy["spec"].get("egress", [])
                 for p in rule.get("ports", [])}
        if not {6379, 26379} <= ports:
            raise Failure(f"egress does not reach Redis and its sentinels: {ports}")
        if values["replicaCount"] < 2:
            raise Failure("a Sentinel setup runs several replicas")
    case("render: ci/sentinel-values.yaml reaches the sentinels over TLS with a sealing key",
         sentinel_setup_is_wired)

    def checksum_follows_config():
        def annotation(values):
            docs, _ = render(merge(with_secret, values))
            deploy = one(by_kind(docs), "Deployment")
            return deploy["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        same = annotation({}), annotation({})
        changed = annotation({"config": {"pages": {"service_name": "Autre service"}}})
        if same[0] != same[1] or changed == same[0]:
            raise Failure(f"checksum/config {same} then {changed}")
    case("checksum/config changes with the config, only with it", checksum_follows_config)

    for ok, title, detail in results:
        print(f"ok   {title} {detail}" if ok else f"FAIL {title}: {detail}")
    failed = [r for r in results if not r[0]]
    print(f"chart checks: {len(results) - len(failed)} passed, {len(failed)} failed")
    shutil.rmtree(os.environ["GUICHET_CHART_HELM_HOME"], ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
