"""The deployment files a user copies: Dockerfile, compose, cron, systemd, Kubernetes.

No Docker engine or cluster exists here, so each file is checked for what can be checked:
it parses, every environment variable it sets is one the configuration reads, every
`tvmaze-sync` command line in it parses with the real CLI, and the image's health check
command works against a real server. The install test builds the package from exactly the
files the Dockerfile copies and installs it, non-editable, into a fresh venv.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.commands import invocations, option_env_names, parse_invocation
from tests.doubles.httpserver import LoopbackServer
from tests.helpers_ports import free_port
from tests.helpers_tools import run, tool
from tvmaze_sync.core.config import Config, build_config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions("ENV"):
        for word in shlex.split(rest):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def copies() -> list[tuple[list[str], str]]:
    out = []
    for rest in instructions("COPY"):
        *sources, dest = shlex.split(rest)
        out.append((sources, dest))
    return out


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's argv; exec form (a JSON array), as hadolint's DL3025 wants."""
    (rest,) = instructions("HEALTHCHECK")
    argv = json.loads(rest.split(" CMD ", 1)[1].strip())
    assert isinstance(argv, list) and all(isinstance(word, str) for word in argv)
    return argv


def test_dockerfile_has_the_issue_contract() -> None:
    (base,) = instructions("FROM")
    assert base == "python:3.12-slim"
    env = image_env()
    assert env["STORAGE_PATH"] == "/data"
    assert env["TVMAZE_SYNC_CONFIG"] == "/config/config.yaml"
    assert env["SERVER_HOST"] == "0.0.0.0"
    assert env["LOGGING_FORMAT"] == "json"
    assert json.loads(instructions("VOLUME")[0]) == ["/data", "/config"]
    defaults = Config()
    assert instructions("EXPOSE") == [str(defaults.server.port)]
    assert json.loads(instructions("ENTRYPOINT")[0]) == ["tvmaze-sync"]
    assert json.loads(instructions("CMD")[0]) == ["serve"]
    (user,) = instructions("USER")
    # Numeric uid:gid, so the kubelet can check `runAsNonRoot` without a `runAsUser`.
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit(), user
    # The last USER comes after every RUN that needs root.
    words = [word for word, _ in dockerfile()]
    assert max(i for i, w in enumerate(words) if w == "RUN") < words.index("USER")
    installs = [r for r in instructions("RUN") if "pip install" in r]
    assert installs and all("-e " not in r and "[test]" not in r for r in installs)


def test_dockerfile_env_names_are_real_options() -> None:
    known = option_env_names()
    ours = {k for k in image_env() if not k.startswith(("PYTHON", "PIP_"))}
    assert ours - known == set()


def test_dockerfile_copies_exist_and_are_not_dockerignored() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for sources, _ in copies():
        for source in sources:
            assert (ROOT / source).exists(), source
            top = source.split("/")[0]
            assert top not in ignored, f"{source} is excluded by .dockerignore"
    for heavy in (".git", ".venv", "tests"):
        assert heavy in ignored


def test_image_runs_on_defaults_with_no_config_mounted() -> None:
    """TVMAZE_SYNC_CONFIG must name an existing file; the image ships an empty one."""
    env = image_env()
    (placeholder,) = [
        src for sources, dest in copies() if dest == env["TVMAZE_SYNC_CONFIG"] for src in sources
    ]
    from tvmaze_sync.core.config import load_config

    config = load_config(None, {**env, "TVMAZE_SYNC_CONFIG": str(ROOT / placeholder)})
    expected = Config()
    expected.storage.path, expected.server.host = "/data", "0.0.0.0"
    expected.logging.format = "json"
    assert config == expected


def test_dockerfile_passes_hadolint() -> None:
    """hadolint, the Dockerfile linter, at its default rules: no warning, no info."""
    hadolint = tool("hadolint")
    result = run(hadolint, "--no-color", "Dockerfile")
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


# --- the health check ----------------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = self.server.status if self.path == "/health" else 404  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def run_healthcheck(env_overrides: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's HEALTHCHECK command, verbatim, run without a shell as Docker would."""
    env = {
        **image_env(),
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "TVMAZE_SYNC_CONFIG": str(ROOT / "docker" / "config.yaml"),
        "STORAGE_PATH": str(home / "data"),
        "http_proxy": "http://127.0.0.1:9",  # the probe must never go through a proxy
        **env_overrides,
    }
    argv = healthcheck_command()
    return subprocess.run(
        [shutil.which(argv[0], path=env["PATH"]) or argv[0], *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_healthcheck_command_follows_the_server(tmp_path: Path) -> None:
    server = LoopbackServer(_Health, status=200).start()
    try:
        port = str(server.port)
        assert run_healthcheck({"SERVER_PORT": port}, tmp_path).returncode == 0
        server.httpd.status = 503  # type: ignore[union-attr]
        unhealthy = run_healthcheck({"SERVER_PORT": port}, tmp_path)
        assert unhealthy.returncode == 3  # Docker counts any non-zero exit as unhealthy
        assert f"127.0.0.1:{port}/health answered HTTP 503" in unhealthy.stderr
    finally:
        server.stop()


def test_healthcheck_exit_codes_and_ready_path(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tvmaze_sync.cli.main import app

    server = LoopbackServer(_Health, status=200).start()
    env = {
        "SERVER_PORT": str(server.port),
        "SERVER_HOST": "0.0.0.0",  # as in the image: the probe must go to loopback
        "STORAGE_PATH": str(tmp_path),
        "TVMAZE_SYNC_CONFIG": str(ROOT / "docker" / "config.yaml"),
    }
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["healthcheck"], env=env).exit_code == 0
        ready = runner.invoke(app, ["healthcheck", "--ready"], env=env)
        assert ready.exit_code == 3
        assert f"http://127.0.0.1:{server.port}/ready answered HTTP 404" in ready.output
    finally:
        server.stop()
    gone = runner.invoke(app, ["healthcheck", "--timeout", "2"], env=env)
    assert gone.exit_code == 3 and "is not answering" in gone.output


def test_healthcheck_against_a_real_serve(tmp_path: Path, tvmaze_sim_factory: Any) -> None:
    """The image's HEALTHCHECK, run as Docker would, against `serve` started with the
    image's environment: healthy while it runs, unhealthy once SIGTERM has stopped it."""
    pytest.importorskip("tvmaze_sync.serve.endpoints", reason="serve has not landed yet")
    from tests.doubles.tvmaze_sim import load_real_shows

    sim = tvmaze_sim_factory(shows=load_real_shows()[:30], rate_limit=None)
    overrides = {"SERVER_PORT": str(free_port()), "TVMAZE_BASE_URL": sim.url}
    env = {
        **os.environ,
        **image_env(),
        "HOME": str(tmp_path),
        "TVMAZE_SYNC_CONFIG": str(ROOT / "docker" / "config.yaml"),
        "STORAGE_PATH": str(tmp_path / "data"),
        "SERVER_SHUTDOWN_TIMEOUT": "30s",
        **overrides,
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "tvmaze-sync"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        result = run_healthcheck(overrides, tmp_path)
        while result.returncode != 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            result = run_healthcheck(overrides, tmp_path)
        served = log_path.read_text(encoding="utf-8")
        assert result.returncode == 0, f"{result.stderr}\nserve said:\n{served}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert run_healthcheck(overrides, tmp_path).returncode == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- docker-compose.yml --------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def env_pairs(environment: list[str] | dict[str, Any]) -> dict[str, str]:
    if isinstance(environment, dict):
        return {k: str(v) for k, v in environment.items()}
    return dict(item.split("=", 1) for item in environment)


def test_compose_environment_names_are_real_options() -> None:
    service = compose()["services"]["tvmaze-sync"]
    env = env_pairs(service["environment"])
    assert set(env) - option_env_names() == set()
    assert "SONARR_API_KEY_FILE" in env and "SONARR_API_KEY" not in env  # secrets as files


def test_compose_secrets_volumes_and_dependencies_are_wired() -> None:
    data = compose()
    service = data["services"]["tvmaze-sync"]
    env = env_pairs(service["environment"])
    for name, value in env.items():
        if name.endswith("_FILE"):
            secret = value.removeprefix("/run/secrets/")
            assert secret in service["secrets"] and secret in data["secrets"], name
    for dependency in service.get("depends_on", []):
        assert dependency in data["services"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    assert mounts["/data"] in data["volumes"]
    assert image_env()["TVMAZE_SYNC_CONFIG"] in mounts
    assert any(str(p).endswith(":8080") for p in service["ports"])


def test_compose_environment_builds_a_valid_config(tmp_path: Path) -> None:
    """The values set in compose pass validation (secret files replaced by temp files)."""
    env = {**image_env(), **env_pairs(compose()["services"]["tvmaze-sync"]["environment"])}
    for name, value in list(env.items()):
        if name.endswith("_FILE"):
            stand_in = tmp_path / Path(value).name
            stand_in.write_text("secret-value\n", encoding="utf-8")
            env[name] = str(stand_in)
    env.pop("TVMAZE_SYNC_CONFIG")
    config = build_config({}, env)
    assert config.sonarr.url == "http://sonarr:8989" and config.sonarr.api_key == "secret-value"


def test_compose_healthcheck_is_a_real_command() -> None:
    test = compose()["services"]["tvmaze-sync"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "curl" not in test[1]
    (argv,) = invocations(test[1])
    assert parse_invocation(argv) == ("healthcheck",)


# --- cron and systemd ----------------------------------------------------------------------


def test_crontab_example_entries_are_valid() -> None:
    jobs = 0
    known = option_env_names() | {"PATH", "MAILTO", "SHELL", "CRON_TZ"}
    for line in (ROOT / "crontab.example").read_text(encoding="utf-8").splitlines():
        body = line.lstrip("# ").strip()
        if re.fullmatch(r"[A-Z_]+=\S*", line):
            assert line.split("=")[0] in known, line
        match = re.match(r"(\S+ \S+ \S+ \S+ \S+) (tvmaze-sync .*)$", body)
        if match:
            for field, limit in zip(match.group(1).split(), (59, 23, 31, 12, 7), strict=True):
                numbers = [int(n) for n in re.findall(r"\d+", field)]
                assert all(n <= limit for n in numbers), line
            for argv in invocations(match.group(2)):
                parse_invocation(argv)
            jobs += 1
    assert jobs >= 1


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as section -> key -> values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (ROOT / "examples" / "systemd" / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_units_have_the_expected_keys() -> None:
    service = unit("tvmaze-sync.service")["Service"]
    assert service["Type"] == ["oneshot"]
    (exec_start,) = service["ExecStart"]
    (argv,) = invocations(exec_start)
    assert parse_invocation(argv) == ("sync",)
    names = {value.split("=", 1)[0] for value in service.get("Environment", [])}
    assert names and names - option_env_names() == set()
    assert "75" in service["SuccessExitStatus"][0].split()
    timer = unit("tvmaze-sync.timer")
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Timer"]["RandomizedDelaySec"] and timer["Timer"]["OnCalendar"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_units_verify(tmp_path: Path) -> None:
    for name in ("tvmaze-sync.service", "tvmaze-sync.timer"):
        text = (ROOT / "examples" / "systemd" / name).read_text(encoding="utf-8")
        # verify checks the binary exists: point it at this venv's copy.
        text = text.replace("/usr/local/bin/tvmaze-sync", str(BIN / "tvmaze-sync"))
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "tvmaze-sync.timer", "tvmaze-sync.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    calendar = unit("tvmaze-sync.timer")["Timer"]["OnCalendar"][0]
    check = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True)
    assert check.returncode == 0


# --- Kubernetes ----------------------------------------------------------------------------

K8S = ROOT / "examples" / "kubernetes"


def manifests() -> dict[str, dict[str, Any]]:
    """kind/name -> document, for every YAML file the kustomization lists."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    out = {}
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / resource).read_text(encoding="utf-8")):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_kubernetes_cronjob_forbids_overlap_and_uses_real_names() -> None:
    docs = manifests()
    cronjob = docs["CronJob/tvmaze-sync"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] == "Never"  # required by podFailurePolicy
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert parse_invocation(container["args"]) == ("sync",)
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert set(env) - option_env_names() == set()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts.values()) <= set(volumes)
    assert mounts[image_env()["STORAGE_PATH"]] == "data"
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert f"PersistentVolumeClaim/{claim}" in docs
    secret = docs[f"Secret/{volumes['secrets']['secret']['secretName']}"]
    secret_dir = next(path for path, name in mounts.items() if name == "secrets")
    for name, value in env.items():
        if name.endswith("_FILE"):
            assert value.startswith(secret_dir + "/"), name
            assert value.rsplit("/", 1)[1] in secret["stringData"], name
    config_dir = next(path for path, name in mounts.items() if name == "config")
    assert f"{config_dir}/config.yaml" == image_env()["TVMAZE_SYNC_CONFIG"]
    assert f"ConfigMap/{volumes['config']['configMap']['name']}" in docs


def test_kubernetes_configmap_is_a_valid_config() -> None:
    docs = manifests()
    text = docs["ConfigMap/tvmaze-sync"]["data"]["config.yaml"]
    config = build_config(yaml.safe_load(text), {"SONARR_API_KEY": "from-the-secret"})
    assert config.sonarr_enabled


def sync_options() -> set[str]:
    import typer

    from tvmaze_sync.cli.main import app

    sync = typer.main.get_command(app).commands["sync"]  # type: ignore[attr-defined]
    return {opt for param in sync.params for opt in param.opts}


def test_kubernetes_pushgateway_patch_is_a_real_invocation() -> None:
    if "--pushgateway" not in sync_options():
        pytest.skip("sync --pushgateway has not landed yet")
    patch = yaml.safe_load((K8S / "pushgateway-patch.yaml").read_text(encoding="utf-8"))
    (container,) = pod_spec(patch)["containers"]
    (original,) = pod_spec(manifests()["CronJob/tvmaze-sync"])["containers"]
    assert container["name"] == original["name"]
    assert parse_invocation(container["args"]) == ("sync",)


def with_patch(base: Any, patch: Any) -> Any:
    """A strategic merge as kustomize does it for our patch: maps merge, containers by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {k: with_patch(base[k], v) if k in base else v for k, v in patch.items()} | {
            k: v for k, v in base.items() if k not in patch
        }
    if isinstance(base, list) and isinstance(patch, list) and all("name" in i for i in base):
        names = {item["name"]: item for item in patch}
        return [with_patch(item, names.get(item["name"], {})) for item in base]
    return patch


def applied_documents() -> dict[str, dict[str, Any]]:
    """What `kubectl apply -k` would send, with the optional Pushgateway patch applied too."""
    docs = manifests()
    patch = yaml.safe_load((K8S / "pushgateway-patch.yaml").read_text(encoding="utf-8"))
    docs["CronJob/tvmaze-sync+pushgateway"] = with_patch(docs["CronJob/tvmaze-sync"], patch)
    return docs


def test_kubernetes_manifests_pass_kubernetes_validate_strict(tmp_path: Path) -> None:
    """Every resource (and the CronJob with the patch applied) against the Kubernetes API
    schemas, unknown fields rejected."""
    validate = tool("kubernetes-validate")
    files = []
    for key, doc in applied_documents().items():
        path = tmp_path / (key.replace("/", "-").replace("+", "-") + ".yaml")
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        files.append(str(path))
    result = run(validate, "--strict", "--quiet", *files)
    assert result.returncode == 0, result.stdout + result.stderr


#: Volume types the Pod Security Standard "restricted" allows.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What the Pod Security Standards' "restricted" profile (which a namespace labelled
    `pod-security.kubernetes.io/enforce: restricted` enforces) would reject in `pod`."""
    found: list[str] = []
    ctx = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(flag)
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    if ctx.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    if ctx.get("sysctls"):
        found.append("sysctls")
    containers = [
        *pod.get("containers", []),
        *pod.get("initContainers", []),
        *pod.get("ephemeralContainers", []),
    ]
    for c in containers:
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot", ctx.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot must be true")
        if sc.get("runAsUser", ctx.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", ctx.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile.type must be RuntimeDefault or Localhost")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        if any(port.get("hostPort") for port in c.get("ports", [])):
            found.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount")
    return found


def test_kubernetes_cronjob_meets_pod_security_restricted() -> None:
    pod = pod_spec(applied_documents()["CronJob/tvmaze-sync+pushgateway"])
    assert restricted_violations(pod) == []
    assert pod["automountServiceAccountToken"] is False  # it never calls the Kubernetes API
    # The check itself can fail: the pre-#17 pod (no seccomp profile) is rejected.
    old = {**pod, "securityContext": {"runAsNonRoot": True, "runAsUser": 1000}}
    assert restricted_violations(old) == [
        "tvmaze-sync: seccompProfile.type must be RuntimeDefault or Localhost"
    ]


def test_kubernetes_images_are_pinned_to_this_release() -> None:
    """Never `:latest` (or no tag): a CronJob would run whatever was pushed last."""
    from tvmaze_sync import __version__

    for key, doc in applied_documents().items():
        if doc["kind"] != "CronJob":
            continue
        for container in pod_spec(doc)["containers"]:
            image = container["image"]
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert tag == __version__, f"{key}: {image}"
    deployment = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert f"tvmaze-sync:{__version__} " in deployment  # the build command tags it so


# --- the install path a user takes ---------------------------------------------------------


@pytest.mark.slow
def test_non_editable_install_into_a_fresh_venv(tmp_path: Path) -> None:
    """Build from exactly what the Dockerfile copies, install it (not editable), run it.

    The fresh venv has no pip of its own (this venv's pip targets it) and sees the test
    venv's dependencies through a .pth line, so nothing but the build backend is downloaded;
    the package itself, its entry point and its data come only from the built wheel.
    """
    context = tmp_path / "context"
    for sources, _ in copies():
        for source in sources:
            if source.startswith("docker/"):
                continue
            src = ROOT / source
            if src.is_dir():
                shutil.copytree(
                    src, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                (context / source).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, context / source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    test_site = next(p for p in sys.path if p.endswith("site-packages"))
    (Path(site) / "_deps_from_test_venv.pth").write_text(test_site + "\n", encoding="utf-8")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--quiet",
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    run_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    where = subprocess.run(
        [str(python), "-c", "import tvmaze_sync; print(tvmaze_sync.__file__)"],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(site), where.stdout  # the wheel's copy, not the source tree
    exe = str(venv / "bin" / "tvmaze-sync")
    version = subprocess.run(
        [exe, "--version"], cwd=tmp_path, env=run_env, capture_output=True, text=True
    )
    from tvmaze_sync import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"tvmaze-sync {__version__}"
    check = subprocess.run(
        [
            exe,
            "--config",
            str(ROOT / "examples" / "config.yaml"),
            "config",
            "check",
            "--format",
            "json",
        ],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    resolved = json.loads(check.stdout)
    assert resolved["source"].endswith("examples/config.yaml")
    assert resolved["config"]["tvmaze"]["base_url"] == Config().tvmaze.base_url
    consistent = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        capture_output=True,
        text=True,
    )
    assert consistent.returncode == 0, consistent.stdout  # declared dependencies are met
