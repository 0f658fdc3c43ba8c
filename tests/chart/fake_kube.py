"""A Kubernetes API server that accepts everything, on loopback, so that real Helm can install.

Helm's Go library (helm-sdkpy) has no `helm template`: its `Install` action is the only way to
render the chart with real Helm, and it talks to a cluster. This server answers just enough for
it: the version, API discovery for the kinds the chart uses (and monitoring.coreos.com/v1 for the
ServiceMonitor), "not found" for every existing object, and "created" for every POST. Releases
live in Helm's memory driver (HELM_DRIVER=memory), so nothing else is needed. The install
result carries the rendered manifest and NOTES.txt; `created` keeps what Helm sent.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# group -> version -> [(plural, kind, namespaced)]
GROUPS = {
    "": {"v1": [("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
                ("services", "Service", True), ("serviceaccounts", "ServiceAccount", True),
                ("pods", "Pod", True), ("namespaces", "Namespace", False)]},
    "apps": {"v1": [("deployments", "Deployment", True)]},
    "policy": {"v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)]},
    "autoscaling": {"v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)]},
    "networking.k8s.io": {"v1": [("networkpolicies", "NetworkPolicy", True)]},
    "monitoring.coreos.com": {"v1": [("servicemonitors", "ServiceMonitor", True)]},
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
MAX_BODY = 4 << 20


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if path == "/version":
            return self._send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0",
                                    "platform": "linux/amd64"})
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = []
            for group, versions in GROUPS.items():
                if not group:
                    continue
                gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
                groups.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        core = parts[0] == "api" and len(parts) == 2
        named = parts[0] == "apis" and len(parts) == 3
        if core or named:
            group, version = ("", parts[1]) if core else (parts[1], parts[2])
            resources = GROUPS.get(group, {}).get(version)
            if resources is not None:
                return self._send(200, {
                    "kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": [{"name": n, "singularName": "", "namespaced": ns, "kind": k,
                                   "verbs": VERBS} for n, k, ns in resources]})
        if parts[-1] in ("secrets", "configmaps"):  # a list: Helm's storage drivers look up releases
            return self._send(200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []})
        return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                "reason": "NotFound", "code": 404, "message": "not found"})

    def do_POST(self):
        obj = self._body()
        self.server.created.append(obj)
        obj.setdefault("metadata", {}).update(
            uid="00000000-0000-0000-0000-000000000001", resourceVersion="1",
            creationTimestamp="2026-01-01T00:00:00Z")
        return self._send(201, obj)

    def do_PUT(self):
        return self._send(200, self._body())

    do_PATCH = do_PUT


class FakeKube:
    """`with FakeKube() as kube:` serves on 127.0.0.1; `kube.kubeconfig` points Helm at it."""

    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.created = []
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        port = self.server.server_address[1]
        self.kubeconfig = (
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\n"
            "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
            "current-context: fake\n"
            "users:\n- name: fake\n  user:\n    token: fake\n")
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
