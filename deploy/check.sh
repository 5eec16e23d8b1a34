#!/usr/bin/env bash
# Offline checks of the deployment files: no Docker, no cluster, no network (except installing
# PyYAML with pip if it is missing). Checks that
#   - every YAML file under deploy/ parses (yaml.safe_load_all);
#   - every TOML example parses (tomllib), including the commented-out `key = value` lines
#     of deploy/systemd/granary.toml and the granary.toml inside deploy/k8s/configmap.yaml,
#     and uses only keys granary's config file accepts (src/config.rs, deny_unknown_fields);
#   - every GRANARY_* variable set in compose and k8s files is one granary reads;
#   - files named by compose (build context, Dockerfile, bind mounts) and by
#     kustomization.yaml exist, and the expected services and settings are there;
#   - one FoundationDB version is used throughout;
#   - deploy/Dockerfile has the expected shape (embedded default, FoundationDB only with
#     --build-arg FEATURES=fdb, non-root uid 10001, a 0700 data volume, health check, cargo
#     --locked with caches), its .dockerignore lets in what cargo needs (every declared
#     bench) and nothing big, Cargo.lock names only crates.io, and compose and k8s build
#     the fdb variant;
#   - the shell scripts parse (bash -n);
#   - the Prometheus alert rules load and pass their unit tests (`promtool check rules`,
#     `promtool test rules`; promtool comes with Debian's prometheus package, which
#     conformance/install-deps.sh installs), and the Grafana dashboard is valid JSON whose
#     panels all have queries. (Every metric they name exists: tests/s3/deploy_metrics.rs.)
# Usage: deploy/check.sh
set -euo pipefail

deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "PyYAML missing; installing it with pip --user"
    python3 -m pip install --user --quiet pyyaml \
        || python3 -m pip install --user --quiet --break-system-packages pyyaml
fi
python3 -c 'import tomllib' 2>/dev/null || { echo "error: python3 >= 3.11 needed (tomllib)" >&2; exit 1; }

if ! command -v promtool >/dev/null; then
    echo "error: promtool missing (apt-get install prometheus; conformance/install-deps.sh does)" >&2
    exit 1
fi
promtool check rules "$deploy_dir/prometheus/alerts.yml" >/dev/null
echo "ok   promtool check rules prometheus/alerts.yml"
(cd "$deploy_dir/prometheus" && promtool test rules alerts_test.yml >/dev/null)
echo "ok   promtool test rules prometheus/alerts_test.yml"
promtool check config "$deploy_dir/prometheus/prometheus.yml" >/dev/null
echo "ok   promtool check config prometheus/prometheus.yml"
python3 - "$deploy_dir/grafana/granary-dashboard.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
panels = d["panels"]
assert panels and all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels), "a panel without a query"
print(f"ok   grafana/granary-dashboard.json: {len(panels)} panels, each with queries")
PY

for script in "$deploy_dir"/check.sh "$deploy_dir"/compose/*.sh "$deploy_dir"/prometheus/*.sh; do
    bash -n "$script"
    echo "ok   bash -n ${script#"$deploy_dir"/}"
done

DEPLOY_DIR="$deploy_dir" python3 - <<'PY'
import json, os, re, sys, tomllib
from pathlib import Path
import yaml

deploy = Path(os.environ["DEPLOY_DIR"])
repo = deploy.parent
failures = []

def ok(msg):
    print(f"ok   {msg}")

def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}")

def rel(p):
    return str(Path(p).relative_to(deploy))

# --- keys and variables granary accepts -------------------------------------------------
NEW_KEYS = {"metadata", "fdb_cluster_file", "fdb_root_prefix", "chunk_dir"}  # issue 8
config_rs = repo / "src" / "config.rs"
keys = set(NEW_KEYS)
m = re.search(r"pub struct FileConfig\s*\{(.*?)\n\}", config_rs.read_text(), re.S) if config_rs.exists() else None
if m:
    keys |= set(re.findall(r"pub (\w+):", m.group(1)))
    ok(f"config keys from src/config.rs FileConfig: {len(keys)}")
else:
    fail("could not read FileConfig from src/config.rs")
env_vars = {"GRANARY_" + k.upper() for k in keys}
env_vars |= {"GRANARY_CONFIG", "GRANARY_LOG", "GRANARY_ROOT_ACCESS_KEY", "GRANARY_ROOT_SECRET_KEY"}
# Serve flags with environment variables that are not FileConfig keys: none today.

def check_toml(text, where, expect=None):
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        fail(f"{where}: TOML does not parse: {e}")
        return
    unknown = sorted(set(data) - keys)
    if unknown:
        fail(f"{where}: keys granary rejects: {unknown}")
        return
    for k, v in (expect or {}).items():
        if data.get(k) != v:
            fail(f"{where}: {k} = {data.get(k)!r}, expected {v!r}")
            return
    ok(f"{where}: TOML parses, keys {sorted(data)}")

# --- every YAML file ----------------------------------------------------------------------
docs = {}
for path in sorted(list(deploy.rglob("*.yaml")) + list(deploy.rglob("*.yml"))):
    try:
        loaded = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        fail(f"{rel(path)}: YAML does not parse: {e}")
        continue
    docs[rel(path)] = loaded
    kinds = ", ".join(d.get("kind", "?") for d in loaded if isinstance(d, dict))
    ok(f"{rel(path)}: YAML parses ({len(loaded)} document(s){': ' + kinds if kinds.strip('?, ') else ''})")

# --- TOML examples -------------------------------------------------------------------------
for path in sorted(deploy.rglob("*.toml")):
    text = path.read_text()
    check_toml(text, rel(path))
    commented = "\n".join(
        l.lstrip("#").strip() for l in text.splitlines()
        if re.match(r"^#\s*[a-z_]+\s*=\s*\S", l)
    )
    if commented:
        check_toml(commented, f"{rel(path)} (commented-out lines)")

# --- compose -------------------------------------------------------------------------------
compose_path = "compose/compose.yaml"
if compose_path in docs:
    c = docs[compose_path][0]
    services = c.get("services", {})
    want = {"fdb", "fdb-init", "kafka", "gateway-1", "gateway-2", "lb"}
    if want - set(services):
        fail(f"{compose_path}: missing services {sorted(want - set(services))}")
    else:
        ok(f"{compose_path}: services {sorted(services)}")
    base = deploy / "compose"
    for name, svc in services.items():
        b = svc.get("build")
        if b:
            ctx = (base / b["context"]).resolve()
            df = ctx / b.get("dockerfile", "Dockerfile")
            if not (ctx / "Cargo.toml").exists() or not df.exists():
                fail(f"{compose_path}: {name}: build context {ctx} / {df} not found")
            else:
                ok(f"{compose_path}: {name}: builds {df.relative_to(repo)} with the repository root as context")
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                if (base / src).exists():
                    ok(f"{compose_path}: {name}: bind mount {src} exists")
                else:
                    fail(f"{compose_path}: {name}: bind mount {src} not found")
            elif src not in (c.get("volumes") or {}):
                fail(f"{compose_path}: {name}: volume {src} not declared")
        env = svc.get("environment") or {}
        bad = sorted(k for k in env if k.startswith("GRANARY_") and k not in env_vars)
        if bad:
            fail(f"{compose_path}: {name}: unknown variables {bad}")
        for dep in (svc.get("depends_on") or {}):
            if dep not in services:
                fail(f"{compose_path}: {name}: depends on unknown service {dep}")
    for gw in ("gateway-1", "gateway-2"):
        svc = services.get(gw, {})
        env = svc.get("environment") or {}
        checks = {
            "GRANARY_METADATA=fdb": env.get("GRANARY_METADATA") == "fdb",
            "GRANARY_CHUNK_DIR=/chunks": env.get("GRANARY_CHUNK_DIR") == "/chunks",
            "chunks volume at /chunks": "chunks:/chunks" in svc.get("volumes", []),
            "waits for fdb-init": (svc.get("depends_on") or {}).get("fdb-init", {}).get("condition")
                == "service_completed_successfully",
            "kafka variables": {"GRANARY_KAFKA_BROKERS", "GRANARY_KAFKA_TOPIC"} <= set(env),
        }
        missing = [k for k, good in checks.items() if not good]
        if missing:
            fail(f"{compose_path}: {gw}: {missing}")
        else:
            ok(f"{compose_path}: {gw}: {', '.join(checks)}")
    data_vols = [next(v for v in services.get(g, {}).get("volumes", []) if v.endswith(":/var/lib/granary"))
                 for g in ("gateway-1", "gateway-2")]
    if len(set(data_vols)) == 2:
        ok(f"{compose_path}: separate data volumes {data_vols}")
    else:
        fail(f"{compose_path}: gateways share a data volume")
    cfg = (deploy / "compose" / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s*server\s+\S+\s+([\w-]+):9000", cfg, re.M)
    if sorted(servers) == ["gateway-1", "gateway-2"] and "/_granary/health" in cfg and "roundrobin" in cfg:
        ok("compose/haproxy.cfg: round robin to gateway-1, gateway-2, checks /_granary/health")
    else:
        fail(f"compose/haproxy.cfg: servers {servers}, health check or balance missing")

# --- kubernetes ----------------------------------------------------------------------------
kust = docs.get("k8s/kustomization.yaml", [None])[0]
if kust:
    missing = [r for r in kust.get("resources", []) if not (deploy / "k8s" / r).exists()]
    if missing:
        fail(f"k8s/kustomization.yaml: resources not found {missing}")
    else:
        ok(f"k8s/kustomization.yaml: all {len(kust['resources'])} resources exist")
    image_names = {i["name"] for i in kust.get("images", [])}
    k8s_docs = [d for r in kust.get("resources", []) for d in docs.get(f"k8s/{r}", [])]
    for d in k8s_docs:
        if d.get("kind") != "Deployment":
            continue
        spec = d["spec"]["template"]["spec"]
        for ctr in spec.get("initContainers", []) + spec["containers"]:
            if ctr["image"] not in image_names:
                fail(f"k8s: container {ctr['name']} image {ctr['image']} not set by kustomization images")
            bad = sorted(e["name"] for e in ctr.get("env", []) if e["name"].startswith("GRANARY_") and e["name"] not in env_vars)
            if bad:
                fail(f"k8s: container {ctr['name']}: unknown variables {bad}")
        main = spec["containers"][0]
        probes = [main.get(p, {}).get("httpGet", {}).get("path") for p in ("readinessProbe", "livenessProbe")]
        if probes == ["/_granary/health"] * 2 and spec.get("securityContext", {}).get("runAsNonRoot"):
            ok(f"k8s: Deployment {d['metadata']['name']}: {d['spec']['replicas']} replicas, probes on /_granary/health, non-root")
        else:
            fail(f"k8s: Deployment probes {probes} or runAsNonRoot missing")
        claims = [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v]
        cms = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
        pvcs = {x["metadata"]["name"]: x for x in k8s_docs if x.get("kind") == "PersistentVolumeClaim"}
        for claim in claims:
            if claim in pvcs and pvcs[claim]["spec"]["accessModes"] == ["ReadWriteMany"]:
                ok(f"k8s: PVC {claim} is ReadWriteMany")
            else:
                fail(f"k8s: PVC {claim} missing or not ReadWriteMany")
        clusters = [x["metadata"]["name"] for x in k8s_docs if x.get("kind") == "FoundationDBCluster"]
        own_cms = {x["metadata"]["name"] for x in k8s_docs if x.get("kind") == "ConfigMap"}
        for cm in cms:
            if cm in own_cms or cm in {f"{n}-config" for n in clusters}:
                ok(f"k8s: ConfigMap {cm} is defined here or written by the operator")
            else:
                fail(f"k8s: ConfigMap {cm} comes from nowhere")
    for d in k8s_docs:
        if d.get("kind") == "ConfigMap" and "granary.toml" in d.get("data", {}):
            check_toml(d["data"]["granary.toml"], f"k8s ConfigMap {d['metadata']['name']} granary.toml",
                       expect={"metadata": "fdb", "chunk_dir": "/chunks"})
        if d.get("kind") == "FoundationDBCluster":
            s = d["spec"]
            if s["databaseConfiguration"]["redundancy_mode"] == "double" and s["processCounts"]["storage"] == 3:
                ok(f"k8s: FoundationDBCluster {d['metadata']['name']}: {s['version']}, double, 3 storage")
            else:
                fail("k8s: FoundationDBCluster not double / 3 storage")

# --- one FoundationDB version --------------------------------------------------------------
versions = {}
for path in sorted(deploy.rglob("*")):
    if path.is_file() and path.name != "check.sh":
        for v in re.findall(r"\b7\.3\.\d+\b", path.read_text(errors="replace")):
            versions.setdefault(v, set()).add(rel(path))
if len(versions) == 1:
    v, files = next(iter(versions.items()))
    ok(f"FoundationDB {v} throughout ({len(files)} files)")
else:
    fail(f"several FoundationDB versions: { {v: sorted(f) for v, f in versions.items()} }")

# --- the image ------------------------------------------------------------------------------
# Textual checks (no Docker here): the embedded store by default, FoundationDB only through the
# FEATURES build argument, crates fetched by cargo under --locked, a non-root user owning a
# 0700 data volume, the health check, and a build context that holds what cargo needs.
df = (deploy / "Dockerfile").read_text()
stages = re.split(r"^FROM ", df, flags=re.M)
if len(stages) != 3:
    fail(f"Dockerfile: expected a builder and a runtime stage, found {len(stages) - 1} FROM lines")
else:
    builder, runtime = stages[1], stages[2]
    checks = {
        "embedded default (ARG FEATURES=\"\")": re.search(r'^ARG FEATURES=""\s*$', df, re.M) is not None,
        "features only from the build argument":
            'cargo build --release --locked ${FEATURES:+--features "$FEATURES"}' in builder
            and not any("--features fdb" in l for l in df.splitlines() if not l.lstrip().startswith("#")),
        "fdb variant installs libclang-dev and the FoundationDB client only for fdb":
            """case ",$(echo "$FEATURES" | tr ' ' ',')," in *,fdb,*) ;; *) exit 0 ;; esac;""" in builder
            and builder.index("exit 0 ;; esac") < builder.index("libclang-dev")
            and builder.index("exit 0 ;; esac") < builder.index("foundationdb-clients_"),
        "builder: libssl-dev and pkg-config (rdkafka's ssl)": all(x in builder for x in ("libssl-dev", "pkg-config", "zlib1g-dev")),
        "builder: cargo caches": all(f"--mount=type=cache,target={d}" in builder
                                     for d in ("/usr/local/cargo/registry", "/usr/local/cargo/git", "/src/target")),
        "runtime: libssl3, ca-certificates, curl":
            re.search(r"apt-get install[^\n]*libssl3[^\n]*ca-certificates[^\n]*curl", runtime) is not None,
        "runtime: the build checks the binary's libraries (ldd)": "ldd /usr/local/bin/granary" in runtime,
        "non-root: uid/gid 10001, USER 10001:10001":
            "--uid 10001" in runtime and "--gid 10001" in runtime and re.search(r"^USER 10001:10001$", runtime, re.M) is not None,
        "data dir 0700, owned by granary, a VOLUME":
            re.search(r"install -d -m 0700 -o granary -g granary /var/lib/granary", runtime) is not None
            and 'VOLUME ["/var/lib/granary"]' in runtime,
        "ENV GRANARY_DATA_DIR and GRANARY_LISTEN=0.0.0.0:9000":
            "GRANARY_DATA_DIR=/var/lib/granary" in runtime and "GRANARY_LISTEN=0.0.0.0:9000" in runtime,
        "EXPOSE 9000": re.search(r"^EXPOSE 9000$", runtime, re.M) is not None,
        "HEALTHCHECK on /_granary/health with curl":
            re.search(r"^HEALTHCHECK .*\n.*curl .*/_granary/health", runtime, re.M) is not None,
        'ENTRYPOINT ["granary"], CMD ["serve"]':
            re.search(r'^ENTRYPOINT \["granary"\]$', runtime, re.M) is not None
            and re.search(r'^CMD \["serve"\]$', runtime, re.M) is not None,
    }
    # Every RUN and the health check's command parse as /bin/sh (dash) scripts.
    import subprocess
    joined = re.sub(r"\\\n", " ", df)
    scripts = [re.sub(r"^(--mount=\S+\s+)+", "", m) for m in re.findall(r"^RUN (.*)$", joined, re.M)]
    hc = re.search(r'^HEALTHCHECK .*CMD (\[.*\])$', joined, re.M)
    scripts += [json.loads(hc.group(1))[2]] if hc else []
    shell_bad = [s[:60] for s in scripts if subprocess.run(["sh", "-n", "-c", s], capture_output=True).returncode != 0]
    checks[f"all {len(scripts)} RUN and HEALTHCHECK scripts parse (sh -n)"] = bool(scripts) and not shell_bad
    bad = sorted(set(re.findall(r"\bGRANARY_[A-Z_]+", df)) - env_vars)
    checks["every GRANARY_* variable is one granary reads"] = not bad
    for what, good in checks.items():
        if good:
            ok(f"Dockerfile: {what}")
        else:
            fail(f"Dockerfile: {what}{': ' + str(bad) if what.startswith('every') else ''}")

# The build context as BuildKit makes it from Dockerfile.dockerignore: patterns in order, the
# last match decides, `!` re-includes, a pattern matching a parent directory matches what is
# below it, `*` does not cross `/`.
rules = []
for line in (deploy / "Dockerfile.dockerignore").read_text().splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
        pat = os.path.normpath(line.lstrip("!").strip("/"))
        rx = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pat)
        rules.append((line.startswith("!"), re.compile(f"^{rx}$")))

def in_context(path):
    parts = path.split("/")
    inside = True
    for negated, rx in rules:
        if any(rx.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            inside = negated
    return inside

cargo = tomllib.loads((repo / "Cargo.toml").read_text())
needed = ["Cargo.toml", "Cargo.lock", "src/main.rs", "src/lib.rs"]
needed += [t.get("path", f"benches/{t['name']}.rs") for t in cargo.get("bench", [])]
needed += [t["path"] for kind in ("test", "example", "bin") for t in cargo.get(kind, []) if "path" in t]
# Folders compiled into the binary (rust-embed's #[folder = "..."]): the console's built assets.
import re
for source in (repo / "src").rglob("*.rs"):
    for folder in re.findall(r'#\[folder\s*=\s*"([^"]+)"\]', source.read_text()):
        needed.append(folder.strip("/") + "/index.html")
missing = [f for f in needed if not in_context(f)]
leaked = [f for f in ("target/release/granary", ".git/HEAD", "tests/s3/main.rs", "fuzz/Cargo.toml") if in_context(f)]
if missing or leaked:
    fail(f"Dockerfile.dockerignore: cargo needs {missing} (declared targets included), keeps out {leaked}?")
else:
    ok(f"Dockerfile.dockerignore: the context has the manifest, lock, sources and the {len(cargo.get('bench', []))} "
       "declared benches; target/, .git, tests/ and fuzz/ stay out")
locks = tomllib.loads((repo / "Cargo.lock").read_text())["package"]
foreign = sorted({p.get("source", "") for p in locks if "source" in p} - {"registry+https://github.com/rust-lang/crates.io-index"})
if foreign:
    fail(f"Cargo.lock: packages from {foreign}, which a `cargo build --locked` in the image may not reach")
else:
    ok(f"Cargo.lock: all {sum(1 for p in locks if 'source' in p)} dependencies come from crates.io (fetched by cargo in the image)")

# The FoundationDB deployments build the image's fdb variant.
if compose_path in docs:
    for gw in ("gateway-1", "gateway-2"):
        args = ((docs[compose_path][0]["services"].get(gw) or {}).get("build") or {}).get("args") or {}
        if args.get("FEATURES") == "fdb":
            ok(f"{compose_path}: {gw}: builds the image with FEATURES=fdb")
        else:
            fail(f"{compose_path}: {gw}: build args {args} lack FEATURES: fdb (the image's default has no FoundationDB)")
k8s_readme = (deploy / "k8s" / "README.md").read_text()
builds = re.findall(r"docker build [^\n]*", k8s_readme)
if builds and all("--build-arg FEATURES=fdb" in b for b in builds):
    ok("k8s/README.md: the image is built with --build-arg FEATURES=fdb")
else:
    fail(f"k8s/README.md: docker build without --build-arg FEATURES=fdb: {builds}")

if failures:
    print(f"\n{len(failures)} check(s) failed")
    sys.exit(1)
print("\nall deploy checks passed")
PY
