#!/usr/bin/env python3
"""Cross-checks deploy/ against the settings the Knotwork binaries read.

Called by deploy/check.sh after it has rendered the kustomize overlays; run
that script, not this one. Checks:

1. Every KNOTWORK_* name written anywhere in deploy/ is one a binary reads.
2. Every service in compose and in each overlay sets only names its own
   binary reads, and sets the settings it cannot run without (listen address,
   data folder, internal token, JWT key, catalog URL(s), shard list).
3. The wiring agrees with itself: the gateway's shard list names exactly the
   session shards in ordinal order (compose services; StatefulSet replicas,
   headless Service and namespace in Kubernetes), URLs use the ports the
   services listen on, data folders are mounted volumes, probes hit the main
   port, and every pod has resources and a locked-down securityContext.

The names the binaries read come from their source: every string literal
"KNOTWORK_..." under crates/<service>/src, plus crates/runtime/src (shared
flags such as KNOTWORK_LOG_FORMAT, flattened into every binary's Config).
With --names-from FILE they come from the settings table of a conventions
document instead (for a branch where the binaries are not merged yet).

Exit status: 0 when everything holds, 1 otherwise, with one line per problem.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from urllib.parse import urlsplit

import yaml

SERVICES = ("catalog", "session", "gateway")
NAME_RE = re.compile(r"KNOTWORK_[A-Z0-9_]*[A-Z0-9]")
LITERAL_RE = re.compile(r'"(KNOTWORK_[A-Z0-9_]*[A-Z0-9])"')

# Names deploy/ sets for information only: the binaries may ignore them
# (clap ignores unknown variables), so an unread one is a note, not an error.
INFORMATIONAL: dict[str, str] = {}

# Settings each service cannot run correctly without in a container. Lists of
# alternatives: one of them must be set.
REQUIRED = {
    "catalog": [
        ["KNOTWORK_CATALOG_LISTEN"],
        ["KNOTWORK_CATALOG_DATA_DIR"],
        ["KNOTWORK_INTERNAL_TOKEN"],
    ],
    "session": [
        ["KNOTWORK_SESSION_LISTEN"],
        ["KNOTWORK_SESSION_DATA_DIR"],
        ["KNOTWORK_CATALOG_URL"],
        ["KNOTWORK_INTERNAL_TOKEN"],
        ["KNOTWORK_SESSION_SHARD_ID"],
    ],
    "gateway": [
        ["KNOTWORK_GATEWAY_LISTEN"],
        ["KNOTWORK_GATEWAY_ADMIN_LISTEN"],
        ["KNOTWORK_CATALOG_URLS"],
        ["KNOTWORK_SESSION_SHARDS"],
        ["KNOTWORK_INTERNAL_TOKEN"],
        ["KNOTWORK_JWT_SECRET", "KNOTWORK_JWT_JWKS_FILE", "KNOTWORK_OIDC_ISSUERS"],
    ],
}
LISTEN = {
    "catalog": "KNOTWORK_CATALOG_LISTEN",
    "session": "KNOTWORK_SESSION_LISTEN",
    "gateway": "KNOTWORK_GATEWAY_LISTEN",
}
ADMIN = {
    "catalog": "KNOTWORK_CATALOG_ADMIN_LISTEN",
    "session": "KNOTWORK_SESSION_ADMIN_LISTEN",
    "gateway": "KNOTWORK_GATEWAY_ADMIN_LISTEN",
}
# The drain deadline after SIGTERM (KNOTWORK_SHUTDOWN_GRACE_SECONDS) of the
# services that have one, its default, and the hard stop that follows it
# (knotwork_runtime::drain::HARD_STOP_MARGIN).
DRAIN_DEFAULT = {"catalog": 25, "session": 25, "gateway": 25}
HARD_STOP_SECONDS = 2
# Room between the hard stop and SIGKILL (the last log lines, the exit).
SHUTDOWN_MARGIN_SECONDS = 1
DATA_DIR = {
    "catalog": "KNOTWORK_CATALOG_DATA_DIR",
    "session": "KNOTWORK_SESSION_DATA_DIR",
}


class Report:
    """Collects problems and notes; prints them as it goes."""

    def __init__(self) -> None:
        self.failures = 0

    def fail(self, where: str, msg: str) -> None:
        self.failures += 1
        print(f"  FAIL {where}: {msg}")

    def note(self, where: str, msg: str) -> None:
        print(f"  note {where}: {msg}")

    def ok(self, where: str, msg: str) -> None:
        print(f"  ok   {where}: {msg}")


# ---------------------------------------------------------------------------
# What the binaries read.


def names_from_source(root: pathlib.Path, rep: Report) -> dict[str, set[str]] | None:
    def literals(folder: pathlib.Path) -> set[str]:
        found: set[str] = set()
        for path in sorted(folder.rglob("*.rs")):
            found.update(LITERAL_RE.findall(path.read_text(encoding="utf-8")))
        return found

    shared = literals(root / "crates" / "runtime" / "src")
    read: dict[str, set[str]] = {}
    missing = []
    for svc in SERVICES:
        src = root / "crates" / svc / "src"
        own = literals(src) if src.is_dir() else set()
        if not own:
            missing.append(svc)
        read[svc] = own | shared
    if missing:
        rep.fail(
            "env names",
            f"no KNOTWORK_* names declared under crates/{{{','.join(missing)}}}/src: "
            "the service binaries are not in this tree yet. Run after merging them, "
            "or pass --names-from CONVENTIONS.md to check against the settings table.",
        )
        return None
    return read


def names_from_table(path: pathlib.Path, rep: Report) -> dict[str, set[str]] | None:
    """Reads `| KNOTWORK_... | --flag | default | who |` rows."""
    read: dict[str, set[str]] = {svc: set() for svc in SERVICES}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not NAME_RE.fullmatch(cells[0]):
            continue
        who = cells[-1].lower()
        if "all" in who:
            targets = set(SERVICES)
        else:
            targets = {svc for svc in SERVICES if svc in who}
        for svc in targets:
            read[svc].add(cells[0])
    if not all(read.values()):
        rep.fail("env names", f"{path}: no settings table with KNOTWORK_* rows for every service")
        return None
    return read


# ---------------------------------------------------------------------------
# Shared per-container checks.


def check_service_env(rep: Report, where: str, svc: str, env: dict[str, str | None], read: dict[str, set[str]]) -> None:
    """Names are read by this binary; required settings are present."""
    for name in sorted(n for n in env if n.startswith("KNOTWORK_")):
        if name in read[svc]:
            continue
        if INFORMATIONAL.get(name) == svc:
            rep.note(where, f"{name} is informational and not read by knotwork-{svc} (yet)")
            continue
        readers = [s for s in SERVICES if name in read[s]]
        hint = f" (read by {', '.join('knotwork-' + s for s in readers)})" if readers else ""
        rep.fail(where, f"sets {name}, which knotwork-{svc} does not read{hint}")
    for alternatives in REQUIRED[svc]:
        if not any(a in read[svc] for a in alternatives):
            rep.fail(where, f"required setting {' or '.join(alternatives)} is not read by knotwork-{svc}: contract drift")
        if not any(env.get(a) not in (None, "") for a in alternatives):
            rep.fail(where, f"required setting {' or '.join(alternatives)} is not set")


def port_of(listen: str | None) -> int | None:
    if not listen or ":" not in listen:
        return None
    host, _, port = listen.rpartition(":")
    if host in ("127.0.0.1", "localhost", "[::1]"):
        return None
    return int(port) if port.isdigit() else None


def url_host_port(url: str) -> tuple[str | None, int | None]:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        return None, None
    return parts.hostname, parts.port


# ---------------------------------------------------------------------------
# Compose.

INTERP_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def read_env_file(path: pathlib.Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def interpolate(value: object, env: dict[str, str], rep: Report, where: str) -> object:
    if isinstance(value, dict):
        return {k: interpolate(v, env, rep, where) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, rep, where) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        val = env.get(name)
        unset = val is None or (op in (":-", ":?") and val == "")
        if op in (":-", "-"):
            return arg if unset else str(val)
        if op in (":?", "?") and unset:
            rep.fail(where, f"${{{name}}} is required but not set in the env file")
            return ""
        return val or ""

    return INTERP_RE.sub(sub, value)


def check_compose(rep: Report, compose_path: pathlib.Path, env_example: pathlib.Path, read: dict[str, set[str]], out: pathlib.Path) -> None:
    raw = yaml.safe_load(compose_path.read_text(encoding="utf-8"))
    where = "deploy/compose/compose.yaml"
    if not env_example.is_file():
        rep.fail(where, f"{env_example} (the committed example env file) is missing")
        return
    doc = interpolate(raw, read_env_file(env_example), rep, where)
    # The interpolated file, for check.sh to validate against the compose spec too.
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    services = doc.get("services") or {}
    roles: dict[str, str] = {}
    for name, svc in services.items():
        role = (svc.get("labels") or {}).get("dev.knotwork.service")
        if role not in SERVICES:
            rep.fail(f"{where} {name}", "label dev.knotwork.service must be catalog, session or gateway")
            continue
        roles[name] = role
    by_role = {r: sorted(n for n, x in roles.items() if x == r) for r in SERVICES}
    for role in SERVICES:
        if not by_role[role]:
            rep.fail(where, f"no {role} service")

    volumes = set((doc.get("volumes") or {}).keys())
    ports: dict[str, int | None] = {}
    for name, role in roles.items():
        svc = services[name]
        w = f"compose {name}"
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
        env = {k: (None if v is None else str(v)) for k, v in env.items()}
        if svc.get("env_file"):
            rep.fail(w, "env_file would hand every variable to every container; list the settings under environment")
        check_service_env(rep, w, role, env, read)
        port = port_of(env.get(LISTEN[role]))
        ports[name] = port
        if port is None:
            rep.fail(w, f"{LISTEN[role]}={env.get(LISTEN[role])!r} must listen on all interfaces (0.0.0.0:PORT) inside a container")
        if role in DATA_DIR:
            targets = {}
            for v in svc.get("volumes") or []:
                src, _, rest = str(v).partition(":")
                targets[rest.split(":")[0]] = src
            data_dir = env.get(DATA_DIR[role])
            if data_dir not in targets:
                rep.fail(w, f"{DATA_DIR[role]}={data_dir} is not a mounted volume")
            elif targets[data_dir] not in volumes:
                rep.fail(w, f"{data_dir} is mounted from {targets[data_dir]!r}, not a named volume")
        if role == "gateway" and port is not None:
            published = {str(p).rsplit(":", 1)[-1].split("/")[0] for p in svc.get("ports") or []}
            if str(port) not in published:
                rep.fail(w, f"publishes {sorted(published)}, not its listen port {port}")
        if role != "gateway" and svc.get("ports"):
            rep.fail(w, "publishes ports; only the gateway may")
        if not svc.get("read_only") or "ALL" not in (svc.get("cap_drop") or []):
            rep.fail(w, "must run read_only with cap_drop [ALL]")

    # Wiring: shard list and catalog URLs.
    sessions = by_role["session"]
    expected = [f"session-{i}" for i in range(len(sessions))]
    if sessions != expected:
        rep.fail(where, f"session services must be named session-0..session-{len(sessions) - 1}, got {sessions}")
    for name in by_role["gateway"]:
        env = services[name].get("environment") or {}
        shards = [s for s in str(env.get("KNOTWORK_SESSION_SHARDS", "")).split(",") if s]
        got = [url_host_port(s) for s in shards]
        want = [(s, ports.get(s)) for s in expected]
        if got != want:
            rep.fail(f"compose {name}", f"KNOTWORK_SESSION_SHARDS {shards} does not name the session services {expected} in order with their ports")
        for url in str(env.get("KNOTWORK_CATALOG_URLS", "")).split(","):
            host, port = url_host_port(url)
            if roles.get(host or "") != "catalog" or port != ports.get(host):
                rep.fail(f"compose {name}", f"KNOTWORK_CATALOG_URLS entry {url!r} is not a catalog service and port")
    for name in by_role["session"]:
        url = str((services[name].get("environment") or {}).get("KNOTWORK_CATALOG_URL", ""))
        host, port = url_host_port(url)
        if roles.get(host or "") != "catalog" or port != ports.get(host):
            rep.fail(f"compose {name}", f"KNOTWORK_CATALOG_URL {url!r} is not a catalog service and port")
    rep.ok(where, f"{len(roles)} services ({', '.join(f'{len(by_role[r])} {r}' for r in SERVICES)}) checked")


# ---------------------------------------------------------------------------
# Kubernetes.


def container_env(c: dict, objs: dict[tuple[str, str], dict], rep: Report, w: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """The container's environment: name -> value (None when from a Secret or
    the downward API), and name -> where it came from."""
    env: dict[str, str | None] = {}
    origin: dict[str, str] = {}
    for src in c.get("envFrom") or []:
        if "configMapRef" in src:
            cm = objs.get(("ConfigMap", src["configMapRef"]["name"]))
            if cm is None:
                rep.fail(w, f"envFrom ConfigMap {src['configMapRef']['name']} is not in the rendered output")
                continue
            for k, v in (cm.get("data") or {}).items():
                env[src.get("prefix", "") + k] = v
                origin[src.get("prefix", "") + k] = f"ConfigMap {cm['metadata']['name']}"
        elif "secretRef" in src:
            sec = objs.get(("Secret", src["secretRef"]["name"]))
            if sec is None:
                rep.fail(w, f"envFrom Secret {src['secretRef']['name']} must be rendered so its keys are known")
                continue
            for k in list((sec.get("data") or {}).keys()) + list((sec.get("stringData") or {}).keys()):
                env[src.get("prefix", "") + k] = None
                origin[src.get("prefix", "") + k] = f"Secret {sec['metadata']['name']}"
    for e in c.get("env") or []:
        name = e["name"]
        if "value" in e:
            env[name] = str(e["value"])
            origin[name] = "value"
            continue
        vf = e.get("valueFrom") or {}
        if "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            cm = objs.get(("ConfigMap", ref["name"]))
            if cm is None or ref["key"] not in (cm.get("data") or {}):
                rep.fail(w, f"{name}: ConfigMap {ref['name']} key {ref['key']} not found")
                continue
            env[name] = cm["data"][ref["key"]]
            origin[name] = f"ConfigMap {ref['name']}"
        elif "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            sec = objs.get(("Secret", ref["name"]))
            if sec is None:
                rep.note(w, f"{name} comes from Secret {ref['name']} (key {ref['key']}), created outside kustomize: it must exist in the namespace")
                env[name] = "<external secret>"
            elif ref["key"] not in (sec.get("data") or {}) and ref["key"] not in (sec.get("stringData") or {}):
                rep.fail(w, f"{name}: Secret {ref['name']} has no key {ref['key']}")
                continue
            else:
                env[name] = "<secret>"
            origin[name] = f"Secret {ref['name']}"
        elif "fieldRef" in vf:
            env[name] = f"<{vf['fieldRef']['fieldPath']}>"
            origin[name] = "downward API"
        else:
            env[name] = None
    return env, origin


def shutdown_budget(svc: str, pod: dict, c: dict, env: dict[str, str | None]) -> tuple[int, str]:
    """Seconds a pod needs from deletion to exit, and how they add up."""
    pre = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
    drain = 0
    if svc in DRAIN_DEFAULT:
        raw = env.get("KNOTWORK_SHUTDOWN_GRACE_SECONDS")
        drain = int(raw) if raw and raw.isdigit() else DRAIN_DEFAULT[svc]
    hard = HARD_STOP_SECONDS if svc in DRAIN_DEFAULT else 0
    total = pre + drain + hard + SHUTDOWN_MARGIN_SECONDS
    return total, f"preStop {pre} s + drain {drain} s + hard stop {hard} s + margin {SHUTDOWN_MARGIN_SECONDS} s"


def check_grace(rep: Report, w: str, svc: str, pod: dict, c: dict, env: dict[str, str | None]) -> None:
    """SIGKILL must not land before the drain and the hard stop are over."""
    need, how = shutdown_budget(svc, pod, c, env)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < need:
        rep.fail(w, f"terminationGracePeriodSeconds {grace} is shorter than the shutdown: {how} = {need} s")


def check_k8s(rep: Report, label: str, rendered: pathlib.Path, read: dict[str, set[str]]) -> None:
    docs = [d for d in yaml.safe_load_all(rendered.read_text(encoding="utf-8")) if d]
    objs = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    ns_set = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    if len(ns_set) != 1 or None in ns_set:
        rep.fail(label, f"every object must be in one namespace, got {ns_set}")
        return
    ns = ns_set.pop()
    prod = label.endswith("prod")

    workloads = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    expected_kinds = {"catalog": "Deployment", "session": "StatefulSet", "gateway": "Deployment"}
    info: dict[str, dict] = {}
    # The session shard groups: StatefulSets session-0, session-1, ... (one
    # Raft group each, deploy/k8s/base/session/group-N).
    groups = sorted((d for d in docs if d["kind"] == "StatefulSet"
                     and (d["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "session"),
                    key=lambda d: d["metadata"]["name"])
    group_names = [g["metadata"]["name"] for g in groups]
    if group_names != [f"session-{i}" for i in range(len(groups))]:
        rep.fail(label, f"session StatefulSets must be named session-0..session-N in order, got {group_names}")
    session_info: list[dict] = []
    checked = [(svc, workloads.get(svc)) for svc in SERVICES if svc != "session"] + [("session", g) for g in groups]
    if not groups:
        rep.fail(label, "no StatefulSet session-0 (session shard groups)")
    for svc, wl in checked:
        if wl is None or wl["kind"] != expected_kinds[svc]:
            rep.fail(label, f"no {expected_kinds[svc]} named {svc}")
            continue
        w = f"{label} {expected_kinds[svc].lower()}/{wl['metadata']['name']}"
        pod = wl["spec"]["template"]["spec"]
        containers = [c for c in pod["containers"] if c["name"] == svc]
        if not containers:
            rep.fail(w, f"no container named {svc}")
            continue
        c = containers[0]
        env, _ = container_env(c, objs, rep, w)
        check_service_env(rep, w, svc, env, read)
        port = port_of(env.get(LISTEN[svc]))
        if port is None:
            rep.fail(w, f"{LISTEN[svc]}={env.get(LISTEN[svc])!r} must listen on all interfaces (0.0.0.0:PORT)")
        cports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        if port is not None and cports.get("grpc") != port:
            rep.fail(w, f"containerPort 'grpc' {cports.get('grpc')} differs from {LISTEN[svc]} port {port}")
        # Probes: native gRPC on the main port, or on the plain-text admin
        # port (the kubelet's gRPC probes cannot speak TLS, so with a
        # certificate on the main port they must use the admin port).
        # Liveness asks for the "liveness" health name, which stays SERVING
        # while the process answers: a full disk is readiness, not a restart.
        admin_port = port_of(env.get(ADMIN[svc]))
        tls_main = "KNOTWORK_TLS_CERT" in env
        probe_ports = {admin_port} | ({port} if not tls_main else set())
        probe_ports.discard(None)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            p = c.get(probe) or {}
            if "grpc" not in p:
                if probe != "startupProbe" or p:
                    rep.fail(w, f"{probe} must be a native grpc probe")
                continue
            if p["grpc"].get("port") not in probe_ports:
                why = " (the main port serves TLS)" if tls_main and p["grpc"].get("port") == port else ""
                rep.fail(w, f"{probe} probes port {p['grpc'].get('port')}{why}; "
                            f"the probes may use {sorted(probe_ports)}")
        liveness = ((c.get("livenessProbe") or {}).get("grpc") or {})
        if liveness and liveness.get("service") != "liveness":
            rep.fail(w, "livenessProbe must ask for the health service 'liveness' "
                        "(the overall status follows storage: a full disk would restart the pod in a loop)")
        check_grace(rep, w, svc, pod, c, env)
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set((res.get(part) or {}).keys()):
                rep.fail(w, f"resources.{part} must set cpu and memory")
        sc = c.get("securityContext") or {}
        psc = pod.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            rep.fail(w, "runAsNonRoot is not set")
        if sc.get("readOnlyRootFilesystem") is not True:
            rep.fail(w, "readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            rep.fail(w, "allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            rep.fail(w, "capabilities must drop ALL")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
        if svc in DATA_DIR:
            data_dir = env.get(DATA_DIR[svc])
            if data_dir not in mounts:
                rep.fail(w, f"{DATA_DIR[svc]}={data_dir} is not a mounted volume (the root filesystem is read-only)")
            elif svc == "session":
                claims = {t["metadata"]["name"] for t in wl["spec"].get("volumeClaimTemplates") or []}
                if mounts[data_dir] not in claims:
                    rep.fail(w, f"{data_dir} must be mounted from a volumeClaimTemplate, not {mounts[data_dir]!r}")
        # A PodDisruptionBudget covers the pods.
        labels = wl["spec"]["template"]["metadata"].get("labels") or {}
        pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"
                and all(labels.get(k) == v for k, v in d["spec"]["selector"].get("matchLabels", {}).items())]
        if not pdbs:
            rep.fail(w, "no PodDisruptionBudget selects these pods")
        if svc == "session":
            pdb = pdbs[0] if pdbs else {}
            if pdb and pdb["spec"].get("minAvailable") != 2:
                rep.fail(w, "the group's PodDisruptionBudget must keep minAvailable: 2 (its Raft majority)")
            if wl["spec"].get("replicas", 1) != 3:
                rep.fail(w, f"a session shard group has 3 replicas, not {wl['spec'].get('replicas', 1)}")
            node_id = next((e for e in c.get("env") or [] if e["name"] == "KNOTWORK_SESSION_RAFT_NODE_ID"), {})
            if ((node_id.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") != \
                    "metadata.labels['apps.kubernetes.io/pod-index']":
                rep.fail(w, "KNOTWORK_SESSION_RAFT_NODE_ID must be the pod index (fieldRef on the label "
                            "apps.kubernetes.io/pod-index)")
            session_info.append({"wl": wl, "env": env, "port": port, "container": c, "mounts": mounts, "pod": pod})
            if len(session_info) > 1:
                continue
        info[svc] = {"wl": wl, "env": env, "port": port, "container": c, "mounts": mounts, "pod": pod}

    if len(info) != len(SERVICES):
        return

    # Services: catalog (ClusterIP) and session (headless, the StatefulSet's serviceName).
    sts = info["session"]["wl"]
    headless = objs.get(("Service", sts["spec"].get("serviceName", "")))
    if headless is None or headless["spec"].get("clusterIP") != "None":
        rep.fail(label, f"StatefulSet session needs the headless Service {sts['spec'].get('serviceName')!r}")
    catalog_svc = objs.get(("Service", "catalog"))
    if catalog_svc is None:
        rep.fail(label, "no Service named catalog")

    def svc_port(svc_obj: dict | None) -> set[int]:
        return {p["port"] for p in (svc_obj or {}).get("spec", {}).get("ports", [])}

    # The gateway's shard list names the groups in order, each as its
    # replicas' URLs joined by `|`; each group's members are those URLs with
    # the pod indexes as node ids, and its shard id is its name.
    shards = [s for s in (info["gateway"]["env"].get("KNOTWORK_SESSION_SHARDS") or "").split(",") if s]
    service_name = sts["spec"].get("serviceName")
    # https:// when the gateway dials the shards with TLS (a backend CA).
    scheme = "https" if info["gateway"]["env"].get("KNOTWORK_BACKEND_CA") else "http"
    want = []
    for g in session_info:
        name = g["wl"]["metadata"]["name"]
        if g["wl"]["spec"].get("serviceName") != service_name:
            rep.fail(label, f"StatefulSet {name} must use the headless Service {service_name!r}")
        urls = [f"{scheme}://{name}-{i}.{service_name}.{ns}.svc.cluster.local:{g['port']}"
                for i in range(g["wl"]["spec"].get("replicas", 1))]
        want.append("|".join(urls))
        members = ",".join(f"{i}={u}" for i, u in enumerate(urls))
        if g["env"].get("KNOTWORK_SESSION_RAFT_MEMBERS") != members:
            rep.fail(label, f"KNOTWORK_SESSION_RAFT_MEMBERS of {name} must name its pods in this namespace:\n"
                            f"         got  {g['env'].get('KNOTWORK_SESSION_RAFT_MEMBERS')}\n         want {members}")
        if g["env"].get("KNOTWORK_SESSION_SHARD_ID") != name:
            rep.fail(label, f"KNOTWORK_SESSION_SHARD_ID of {name} must be {name!r}")
        if g["wl"]["spec"].get("podManagementPolicy") != "Parallel":
            rep.fail(label, f"StatefulSet {name}: podManagementPolicy must be Parallel (a group forms once a majority is up)")
        zone = [c for c in g["pod"].get("topologySpreadConstraints") or []
                if c.get("topologyKey") == "topology.kubernetes.io/zone"]
        if not zone or "knotwork.dev/shard-group" not in (zone[0].get("matchLabelKeys") or []):
            rep.fail(label, f"StatefulSet {name} needs a zone topologySpreadConstraint per group "
                            "(matchLabelKeys: [knotwork.dev/shard-group])")
        elif prod and any(z.get("whenUnsatisfiable") != "DoNotSchedule" for z in zone):
            rep.fail(label, f"prod: the zone spread of {name} must be DoNotSchedule (one replica per zone)")
    if shards != want:
        rep.fail(label, f"KNOTWORK_SESSION_SHARDS does not name the session groups {group_names} in namespace {ns}:\n"
                        f"         got  {','.join(shards)}\n         want {','.join(want)}")
    else:
        rep.ok(label, f"gateway shard list names the {len(want)} session groups in namespace {ns}")
    if info["session"]["port"] not in svc_port(headless):
        rep.fail(label, "the headless session Service does not expose the session port")

    # The shards start from the gateway's list with each group's id when
    # they hold no shard map yet.
    initial = [s for s in (info["session"]["env"].get("KNOTWORK_SESSION_INITIAL_SHARDS") or "").split(",") if s]
    want_initial = [f"session-{i}={u}" for i, u in enumerate(want)]
    if initial != want_initial:
        rep.fail(label, "KNOTWORK_SESSION_INITIAL_SHARDS must be the gateway's shard list as session-N=URLs:\n"
                        f"         got  {','.join(initial)}\n         want {','.join(want_initial)}")
    else:
        rep.ok(label, "the shards' initial shard map names the gateway's groups by name")

    # Catalog: the session reads the ClusterIP Service; the gateway resolves
    # the headless twin and balances each call over every catalog pod.
    catalog_want = ("catalog." + ns + ".svc.cluster.local", info["catalog"]["port"])
    pods_want = ("catalog-pods." + ns + ".svc.cluster.local", info["catalog"]["port"])
    pods_svc = objs.get(("Service", "catalog-pods"))
    if pods_svc is None or pods_svc["spec"].get("clusterIP") != "None" \
            or (pods_svc["spec"].get("selector") or {}) != (catalog_svc or {}).get("spec", {}).get("selector"):
        rep.fail(label, "no headless Service catalog-pods selecting the catalog pods")
    for who, name, host in (("gateway", "KNOTWORK_CATALOG_URLS", pods_want), ("session", "KNOTWORK_CATALOG_URL", catalog_want)):
        for url in (info[who]["env"].get(name) or "").split(","):
            if url_host_port(url) != host:
                rep.fail(f"{label} {who}", f"{name} entry {url!r} is not http(s)://{host[0]}:{host[1]}")
    genv = info["gateway"]["env"]
    if int(genv.get("KNOTWORK_CATALOG_RESOLVE_SECS") or 0) <= 0:
        rep.fail(f"{label} gateway", "KNOTWORK_CATALOG_RESOLVE_SECS must be set: the gateway resolves catalog-pods to balance per call")
    if int(genv.get("KNOTWORK_MAX_CONNECTION_AGE_SECS") or 0) <= 0:
        rep.fail(f"{label} gateway", "KNOTWORK_MAX_CONNECTION_AGE_SECS must be set so new gateway replicas get clients")
    if info["catalog"]["port"] not in svc_port(catalog_svc) or info["catalog"]["port"] not in svc_port(pods_svc):
        rep.fail(label, "Services catalog and catalog-pods must expose the catalog port")
    else:
        rep.ok(label, "gateway balances per call over the headless catalog-pods; connections age out")

    # TLS files are read from mounted Secret volumes (read again when the
    # Secret is renewed; the root filesystem holds none).
    tls_files = ("KNOTWORK_TLS_CERT", "KNOTWORK_TLS_KEY", "KNOTWORK_TLS_CLIENT_CA",
                 "KNOTWORK_BACKEND_CA", "KNOTWORK_BACKEND_CLIENT_CERT", "KNOTWORK_BACKEND_CLIENT_KEY")
    for svc in SERVICES:
        for name, value in info[svc]["env"].items():
            if name not in tls_files or not value:
                continue
            mount = next((m for m in (info[svc]["container"].get("volumeMounts") or [])
                          if value.startswith(m["mountPath"].rstrip("/") + "/")), None)
            vol = next((v for v in info[svc]["pod"].get("volumes") or [] if mount and v["name"] == mount["name"]), None)
            if vol is None or "secret" not in vol:
                rep.fail(f"{label} {svc}", f"{name}={value!r} must be a file in a mounted Secret volume")

    # Production: the services' own mTLS between them (unless a mesh does it,
    # KNOTWORK_ALLOW_PLAINTEXT_BACKENDS=true), the internal credential from
    # the overlay's hash-named Secret.
    if prod:
        plaintext_ok = info["gateway"]["env"].get("KNOTWORK_ALLOW_PLAINTEXT_BACKENDS") == "true"
        if not plaintext_ok:
            for svc in ("catalog", "session"):
                env = info[svc]["env"]
                if not (env.get("KNOTWORK_TLS_CERT") and env.get("KNOTWORK_TLS_CLIENT_CA")):
                    rep.fail(f"{label} {svc}", "prod: the backend must serve mTLS (KNOTWORK_TLS_CERT, KNOTWORK_TLS_KEY, "
                                                "KNOTWORK_TLS_CLIENT_CA) or the gateway must say a mesh encrypts "
                                                "(KNOTWORK_ALLOW_PLAINTEXT_BACKENDS=true)")
            for who, names in (("gateway", ("KNOTWORK_CATALOG_URLS", "KNOTWORK_SESSION_SHARDS")),
                               ("session", ("KNOTWORK_CATALOG_URL",))):
                env = info[who]["env"]
                if not (env.get("KNOTWORK_BACKEND_CA") and env.get("KNOTWORK_BACKEND_CLIENT_CERT")):
                    rep.fail(f"{label} {who}", "prod: calls to the backends need KNOTWORK_BACKEND_CA and a client "
                                               "certificate (KNOTWORK_BACKEND_CLIENT_CERT/KEY)")
                for name in names:
                    for url in (env.get(name) or "").replace("|", ",").split(","):
                        if url and not url.startswith("https://"):
                            rep.fail(f"{label} {who}", f"prod: {name} entry {url!r} must be https://")
            rep.ok(label, "services speak mTLS to each other; probes on the plain-text admin ports")
        for svc in SERVICES:
            if info[svc]["env"].get("KNOTWORK_INTERNAL_TOKEN") == "<external secret>":
                rep.fail(f"{label} {svc}", "prod: KNOTWORK_INTERNAL_TOKEN must come from the overlay's secretGenerator "
                                           "(a hash-named Secret, so every pod rolls to a new value together)")

    # Production: prod mode, JWKS from a mounted Secret, no HS256 secret, real CORS origins.
    if prod:
        genv = info["gateway"]["env"]
        w = f"{label} deployment/gateway"
        if genv.get("KNOTWORK_MODE") != "prod":
            rep.fail(w, "KNOTWORK_MODE must be prod")
        if "KNOTWORK_JWT_SECRET" in genv:
            rep.fail(w, "KNOTWORK_JWT_SECRET must not be set in production (OpenID issuers or a JWKS file)")
        issuers = [i.strip() for i in (genv.get("KNOTWORK_OIDC_ISSUERS") or "").split(",") if i.strip()]
        jwks = genv.get("KNOTWORK_JWT_JWKS_FILE") or ""
        if not issuers and not jwks:
            rep.fail(w, "set KNOTWORK_OIDC_ISSUERS (or KNOTWORK_JWT_JWKS_FILE for an air-gapped install)")
        for i in issuers:
            if not i.startswith("https://"):
                rep.fail(w, f"KNOTWORK_OIDC_ISSUERS entry {i!r} must be https://")
        if issuers and not (genv.get("KNOTWORK_OIDC_AUDIENCES") or "").strip():
            rep.fail(w, "KNOTWORK_OIDC_ISSUERS needs KNOTWORK_OIDC_AUDIENCES")
        if jwks:
            mount = next((m for m in (info["gateway"]["container"].get("volumeMounts") or [])
                          if jwks.startswith(m["mountPath"].rstrip("/") + "/")), None)
            vol = next((v for v in info["gateway"]["pod"].get("volumes") or [] if mount and v["name"] == mount["name"]), None)
            if vol is None or "secret" not in vol:
                rep.fail(w, f"KNOTWORK_JWT_JWKS_FILE={jwks!r} must be a file in a mounted Secret volume")
        cors = genv.get("KNOTWORK_CORS_ORIGINS") or ""
        origins = [o for o in cors.split(",") if o]
        if not origins or any(o.strip() == "*" or not o.strip().startswith("https://") for o in origins):
            rep.fail(w, f"KNOTWORK_CORS_ORIGINS={cors!r} must list explicit https:// origins")

    # NetworkPolicy: only the gateway, labelled ops jobs and the other replicas
    # of a group (Raft) reach session; gateway
    # and session (and ops jobs) reach catalog; a default deny covers the rest.
    pols = [d for d in docs if d["kind"] == "NetworkPolicy"]
    if not any(p["spec"].get("podSelector") in ({}, None) and "Ingress" in p["spec"].get("policyTypes", []) and not p["spec"].get("ingress") for p in pols):
        rep.fail(label, "no default-deny ingress NetworkPolicy")

    def allowed_from(target: str) -> list[dict]:
        """Peers that may reach the target's gRPC port (rules limited to
        other ports, such as the admin port with metrics and health, do
        not open the data)."""
        data_port = info[target]["port"]
        out = []
        for p in pols:
            if p["spec"].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") != target:
                continue
            for rule in p["spec"].get("ingress") or []:
                ports = {q.get("port") for q in rule.get("ports") or []}
                if ports and data_port not in ports:
                    continue
                out.extend(rule.get("from") or [{"anyone": True}])
        return out

    def names(peers: list[dict]) -> set[str]:
        got = set()
        for peer in peers:
            ml = (peer.get("podSelector") or {}).get("matchLabels") or {}
            if set(peer) != {"podSelector"}:
                got.add("*")
            elif "app.kubernetes.io/name" in ml:
                got.add(ml["app.kubernetes.io/name"])
            elif ml.get("knotwork.dev/ops-client") == "true":
                got.add("ops")
            else:
                got.add("*")
        return got

    for target, allowed in (("session", {"gateway", "ops", "session"}), ("catalog", {"gateway", "session", "ops"})):
        got = names(allowed_from(target))
        if not got or not got <= allowed:
            rep.fail(label, f"NetworkPolicy lets {sorted(got) or 'nobody'} reach {target}; allowed: {sorted(allowed)}")
    rep.ok(label, f"{len(docs)} objects in namespace {ns} checked")


# ---------------------------------------------------------------------------


def check_text_names(rep: Report, deploy: pathlib.Path, read: dict[str, set[str]]) -> None:
    known = set().union(*read.values()) | set(INFORMATIONAL)
    bad: dict[str, set[str]] = {}
    for path in sorted(p for p in deploy.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for name in set(NAME_RE.findall(text)) - known:
            bad.setdefault(name, set()).add(str(path.relative_to(deploy.parent)))
    for name, paths in sorted(bad.items()):
        rep.fail("env names", f"{name} (in {', '.join(sorted(paths))}) is read by no binary")
    if not bad:
        rep.ok("env names", f"every KNOTWORK_* name in deploy/ is read by a binary ({len(known)} known)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=pathlib.Path, required=True)
    ap.add_argument("--rendered", type=pathlib.Path, required=True, help="folder with <overlay>.yaml renders")
    ap.add_argument("--overlays", nargs="+", required=True)
    ap.add_argument("--compose-out", type=pathlib.Path, required=True)
    ap.add_argument("--names-from", type=pathlib.Path)
    args = ap.parse_args()

    rep = Report()
    if args.names_from:
        read = names_from_table(args.names_from, rep)
        source = str(args.names_from)
    else:
        read = names_from_source(args.root, rep)
        source = "crates/{catalog,session,gateway,runtime}/src"
    if read is None:
        return 1
    for svc in SERVICES:
        print(f"  knotwork-{svc} reads ({source}): {' '.join(sorted(read[svc]))}")

    deploy = args.root / "deploy"
    check_text_names(rep, deploy, read)
    check_compose(rep, deploy / "compose" / "compose.yaml", deploy / "compose" / ".env.example", read, args.compose_out)
    for overlay in args.overlays:
        check_k8s(rep, f"k8s/overlays/{overlay}", args.rendered / f"{overlay}.yaml", read)
    if rep.failures:
        print(f"  {rep.failures} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
