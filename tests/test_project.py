"""Project hygiene that CI must catch: the README's promises, the lint, the exit-code table."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers_tools import run, tool
from tvmaze_sync.core.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _first_code_block(markdown: str) -> list[str]:
    match = re.search(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.S | re.M)
    assert match, "README has no code block"
    return match.group(1).splitlines()


def _test_command() -> str:
    lines = [line for line in _first_code_block(README) if "pytest" in line]
    assert len(lines) == 1, lines
    return lines[0].split("#", 1)[0].strip()  # the comment after the command is for people


def test_readme_opens_with_the_two_newcomer_commands() -> None:
    head = README.split("```", 2)
    assert len(head[0].strip().splitlines()) <= 2, "the commands come first"
    block = _first_code_block(README)
    assert any("tvmaze-sync sync" in line for line in block)
    assert _test_command()


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = _test_command()
    assert command in script.splitlines(), f"{command!r} is not a line of .ci/run"


def test_ci_installs_promtool_before_the_test_command() -> None:
    """The suite lints metrics with promtool, which no pip extra ships: .ci/run fetches it
    first (Debian's `prometheus` package), and only when it is not already on PATH."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    tests_at = lines.index(_test_command())
    install = [
        i for i, line in enumerate(lines) if "apt-get download" in line and "prometheus" in line
    ]
    guard = [i for i, line in enumerate(lines) if line.startswith("if ! command -v promtool")]
    assert install and guard and guard[0] < install[0] < tests_at


def test_every_exit_code_is_in_the_readme_table() -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", section, flags=re.M)
    table = {int(code): meaning for code, meaning in rows}
    assert set(table) == {int(code) for code in ExitCode}
    assert all(meaning for meaning in table.values())


def test_ruff_is_clean_on_the_whole_repository() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_a_plain_non_editable_install_works(tmp_path: Path) -> None:
    """`pip install .` (what pipx does too): the wheel carries every module and data file of
    the program, and no test double. Built from a copy: a checkout's stale build/ must not
    decide what the wheel holds."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_not_source)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if build.returncode != 0 and "Could not find a version" in build.stderr:
        pytest.skip("no package index reachable to fetch the build backend")
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("tvmaze_sync-*.whl")
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", f"--target={target}", wheel],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target), "HOME": str(tmp_path)}
    env["XDG_DATA_HOME"] = env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    probe = "import tvmaze_sync, tvmaze_sync.cli.main; print(tvmaze_sync.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # not the checkout: the installed copy must stand alone
        check=True,
    ).stdout
    assert out.startswith(str(target))
    with zipfile.ZipFile(wheel) as archive:  # the program only, no test double
        assert not [n for n in archive.namelist() if n.startswith("tests/doubles")]
    script = target / "bin" / "tvmaze-sync"
    for args in (["--version"], ["config", "check", "--format", "json"]):
        result = subprocess.run(
            [str(script), *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr


def test_every_command_is_in_the_readme_table() -> None:
    import typer

    from tvmaze_sync.cli.main import app

    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `tvmaze-sync ([a-z]+(?: [a-z]+)?)", section, flags=re.M))
    root = typer.main.get_command(app)
    names: set[str] = set()
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", {})
        names.update(f"{name} {sub}" for sub in subcommands)
        if not subcommands or getattr(command, "invoke_without_command", False):
            names.add(name)
    missing = {name for name in names if name not in listed and name.split()[0] not in listed}
    assert not missing, f"commands missing from the README's table: {sorted(missing)}"


def test_every_imported_module_is_declared() -> None:
    """deptry: each third-party module the program imports is in `dependencies` (httpx, which
    sonarr/gateway.py imports, came only through pyarr once), and none is declared unused."""
    result = run(tool("deptry"), ".")
    assert result.returncode == 0, result.stdout + result.stderr


#: Never part of a build: the developer's environment, caches and earlier builds; at the
#: top only, a developer's own data, secrets and config (.gitignore/.dockerignore's list).
_ANYWHERE = shutil.ignore_patterns(
    ".git", ".venv", "*.egg-info", "__pycache__", "*.pyc", ".*_cache", ".hypothesis"
)
_AT_THE_TOP = {"build", "dist", "secrets", "data", "config.yaml"}


def _not_source(directory: str, names: list[str]) -> set[str]:
    top = _AT_THE_TOP & set(names) if Path(directory) == ROOT else set()
    return set(_ANYWHERE(directory, names)) | top


@pytest.mark.slow
def test_sdist_and_wheel_pass_twine_and_the_sdist_tests_run(tmp_path: Path) -> None:
    """`python -m build` (from a copy, so parallel tests never share a build directory),
    `twine check` on both files, then the sdist unpacked: every test collects there, and
    the quick project and docs tests pass against the sdist's own copy of the package."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_not_source)
    build = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    files = sorted(
        (str(p) for p in (tmp_path / "dist").iterdir()), key=lambda f: f.endswith(".whl")
    )
    assert [Path(f).suffix for f in files] == [".gz", ".whl"], files
    check = run(tool("twine"), "check", "--strict", *files)
    assert check.returncode == 0, check.stdout + check.stderr

    with tarfile.open(files[0]) as sdist:
        sdist.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    pytest_in = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    collect = subprocess.run(
        [*pytest_in, "--collect-only"], cwd=unpacked, capture_output=True, text=True, env=env
    )
    assert collect.returncode == 0, collect.stdout[-3000:] + collect.stderr[-3000:]
    assert re.search(r"^\d{3,} tests collected", collect.stdout, re.M), collect.stdout[-500:]
    quick = subprocess.run(
        [*pytest_in, "-m", "not slow", "tests/test_project.py", "tests/test_docs.py"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert quick.returncode == 0, quick.stdout[-3000:] + quick.stderr[-3000:]


def test_urllib3_is_required_where_its_decompression_is_bounded() -> None:
    """The TVMaze body cap counts bytes after urllib3 decoded them; only urllib3 >= 2.6
    bounds each decompression step (CVE-2025-66471), so older ones must not install."""
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement
    from packaging.version import Version

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    urllib3 = [Requirement(d) for d in project["dependencies"] if d.startswith("urllib3")]
    assert len(urllib3) == 1
    assert not urllib3[0].specifier.contains(Version("2.5.0"))
    assert urllib3[0].specifier.contains(Version(version("urllib3")))


EXITS = {"Exit", "exit", "_exit"}  # typer.Exit, sys.exit, os._exit


def bare_exit_codes(source: str) -> list[int]:
    """Lines where an exit code is written as a number instead of an ExitCode member: an
    argument of an exit call, or a value given to a name ending in `exit_code`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        given: list[ast.AST] = []
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in EXITS:
                given = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [getattr(t, "attr", getattr(t, "id", "")) for t in targets]
            if any(name.endswith("exit_code") for name in names):
                given = [node.value]
        numbers = [
            n
            for arg in given
            for n in ast.walk(arg)
            if isinstance(n, ast.Constant) and type(n.value) is int
        ]
        found += [n.lineno for n in numbers]
    return sorted(found)


def test_no_exit_code_is_a_bare_number() -> None:
    """Every exit code is an ExitCode member, so the one enum (and the help and the docs'
    tables generated from it) lists every code the program can end with."""
    planted = "raise typer.Exit(130)\nsys.exit(c if c else 0)\nself.exit_code = 75\nx = 3\n"
    assert bare_exit_codes(planted) == [1, 2, 3]
    package = ROOT / "tvmaze_sync"
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(package.rglob("*.py"))
        for line in bare_exit_codes(path.read_text(encoding="utf-8"))
    ]
    assert found == []
