"""The docs tell the truth: generated pages are fresh, and hand-written ones quote real things.

Generated files (configuration reference, CLI reference, examples/config.yaml, the metric
table) must equal what docs/gen.py produces now. Hand-written pages are checked for what
drifts silently: command lines that no longer parse, environment variables and metric
names that do not exist, error messages the code no longer prints, worked filter examples
whose decisions the filter code does not make, and links to missing files.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.commands import invocations, option_env_names, parse_invocation
from tvmaze_sync.core.config import Config, build_config, iter_options, load_config
from tvmaze_sync.core.models import Show
from tvmaze_sync.decisions.filters import FilterProcessor
from tvmaze_sync.storage.columns import SHOW_TYPES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HAND_WRITTEN = [ROOT / "README.md", *sorted(p for p in DOCS.glob("*.md") if p.name != "cli.md")]


def load_gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen", DOCS / "gen.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_gen()


@pytest.mark.parametrize(
    "target", sorted(gen.targets(), key=str), ids=lambda p: str(p.relative_to(ROOT))
)
def test_generated_file_is_fresh(target: Path) -> None:
    expected = gen.targets()[target]()
    assert target.is_file(), f"{target} missing: run `python docs/gen.py`"
    assert target.read_text(encoding="utf-8") == expected, "stale: run `python docs/gen.py`"


def test_gen_check_mode_names_a_stale_file(tmp_path: Path, monkeypatch: Any) -> None:
    page = tmp_path / "configuration.md"
    page.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(gen, "targets", lambda: {page: gen.configuration_md})
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["gen.py", "--check"]) == 1
    assert gen.main(["gen.py"]) == 0 and gen.main(["gen.py", "--check"]) == 0
    assert page.read_text(encoding="utf-8") == gen.configuration_md()


def test_configuration_reference_lists_every_option_with_env_and_default() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for option in iter_options():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{option.key}` |"))
        assert f"`{option.env}`" in row
        assert option.help.split("`")[0].strip()[:20] in row


def test_cli_reference_covers_every_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path in gen.command_paths():
        assert f"## `{' '.join(('tvmaze-sync', *path))}`" in text


def test_examples_config_loads_to_the_defaults(tmp_path: Path) -> None:
    config = load_config(ROOT / "examples" / "config.yaml", env={"HOME": str(tmp_path)})
    expected = Config()
    expected.storage.path = config.storage.path
    assert config == expected


# --- hand-written pages ---------------------------------------------------------------------


def code_blocks(text: str, languages: tuple[str, ...]) -> list[str]:
    return [
        m.group(2)
        for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)
        if m.group(1) in languages
    ]


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: p.name)
def test_command_lines_in_docs_parse(page: Path) -> None:
    """Every `tvmaze-sync …` in a shell block or inline code parses with the real CLI."""
    text = page.read_text(encoding="utf-8")
    chunks = [re.sub(r"\\\n", " ", b) for b in code_blocks(text, ("sh", "bash", "console", ""))]
    for inline in re.findall(r"`(tvmaze-sync [^`]*)`", text):
        # Usage notation in prose: `[--dry-run]` is optional, a wrapped line is one line.
        chunks.append(re.sub(r"\[[^\]]*\]", "", inline.replace("\n", " ")))
    found = 0
    for chunk in chunks:
        for argv in invocations(chunk):
            try:
                parse_invocation(argv)
            except Exception as error:
                message = f"{page.name}: tvmaze-sync {shlex.join(argv)}: {error}"
                raise AssertionError(message) from None
            found += 1
    if page.name in ("README.md", "deployment.md", "filters.md", "troubleshooting.md"):
        assert found > 3


def test_every_command_help_has_an_example_that_parses() -> None:
    for path, command in gen.command_tree():
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        examples = [
            argv
            for text in texts
            for quoted in re.findall(r"`([^`]+)`", text)
            for argv in invocations(quoted)
        ]
        if not hasattr(command, "list_commands") or not path:
            assert examples, f"tvmaze-sync {' '.join(path)}: --help has no example"
        for argv in examples:
            parse_invocation(argv)


_PREFIXES = tuple(f"{o.path[0].upper()}_" for o in iter_options() if len(o.path) > 1)


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: p.name)
def test_environment_variables_in_docs_are_real(page: Path) -> None:
    known = option_env_names()
    text = page.read_text(encoding="utf-8")
    for name in set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text)):
        if name.startswith(_PREFIXES) or name == "DRY_RUN":
            assert name in known, f"{page.name}: {name} is not an option variable"


def source_text() -> str:
    """All of tvmaze_sync's source, with split string literals joined and braces unescaped."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tvmaze_sync").rglob("*.py"))
    text = re.sub(r"\"\s*\n\s*(?:f|rf|fr)?\"", "", text)
    return text.replace("{{", "{").replace("}}", "}")


def test_troubleshooting_messages_are_printed_by_the_code() -> None:
    source = source_text()
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    headings = re.findall(r"^### `(.+)`$", text, re.M)
    assert len(headings) >= 20
    for message in headings:
        for fragment in re.split(r"<[^>]+>", message):
            fragment = fragment.strip(" :;,.'\"()")
            if len(fragment) >= 4:
                assert fragment in source, f"{message!r}: {fragment!r} is not in the code"


def test_troubleshooting_covers_every_exit_code() -> None:
    from tvmaze_sync.core.errors import ExitCode

    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \|", text, re.M)
        if code:
            assert re.search(rf"^## Exit {int(code)}\b", text, re.M)


def test_metric_names_in_docs_are_real() -> None:
    metrics = pytest.importorskip("tvmaze_sync.cycle.metrics")
    names = {spec.name for spec in metrics.METRICS}
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    # Every tvmaze_ word but the job (and file) name and the prefix: no old name may linger.
    used = set(re.findall(r"\btvmaze_[a-z_]+\b", text)) - {"tvmaze_sync", "tvmaze_sync_"}
    assert used - names == set()
    (rules,) = [b for b in code_blocks(text, ("yaml",)) if "groups:" in b]
    alerts = yaml.safe_load(rules)["groups"][0]["rules"]
    for alert in alerts:
        assert alert["alert"] and alert["expr"]
        assert set(re.findall(r"\btvmaze_[a-z_]+\b", alert["expr"])) <= names


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


# --- the filters guide ----------------------------------------------------------------------


def test_filters_guide_lists_every_reason_code() -> None:
    rules = pytest.importorskip("tvmaze_sync.decisions.rules")
    text = (DOCS / "filters.md").read_text(encoding="utf-8")
    section = text.split("## Reason codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    assert documented == {code.value for code in rules.ReasonCode}


def parse_facts(facts: str, tvmaze_id: int, title: str) -> Show:
    """`type=Scripted genres=Drama,Thriller country=- …` -> a Show ('-' means unknown)."""
    values: dict[str, Any] = {"tvmaze_id": tvmaze_id, "title": title}
    for key, raw in re.findall(r"(\w+)=(.*?)(?=\s+\w+=|$)", facts.strip()):
        value: Any = None if raw == "-" else raw
        if key == "id":
            values["tvmaze_id"] = int(raw)
            continue
        kind = SHOW_TYPES[key]  # the field's type: a new fact parses with no change here
        if typing.get_origin(kind) is tuple:
            value = tuple(raw.split(",")) if value else ()
        elif value is not None:
            number = next((t for t in (int, float) if t in typing.get_args(kind)), None)
            value = number(value) if number else value
        values[key] = value
    return Show(**values)


def worked_examples() -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    text = (DOCS / "filters.md").read_text(encoding="utf-8")
    section = text.split("## Worked examples", 1)[1].split("\n## ", 1)[0]
    out = []
    for part in re.split(r"^### ", section, flags=re.M)[1:]:
        name = part.splitlines()[0]
        (config_yaml,) = code_blocks(part, ("yaml",))
        rows = re.findall(r"^\| (?!show |---)(.+?) \| (.+?) \| (.+?) \|$", part, re.M)
        out.append((name, config_yaml, rows))
    return out


@pytest.mark.parametrize("example", worked_examples(), ids=lambda e: e[0])
def test_filters_guide_worked_examples_match_the_filter_code(
    example: tuple[str, str, list[tuple[str, str, str]]],
) -> None:
    _, config_yaml, rows = example
    config = build_config(yaml.safe_load(config_yaml), {})
    processor = FilterProcessor(config.filters)
    assert rows
    for n, (title, facts, decision) in enumerate(rows):
        result = processor.process(parse_facts(facts, 90000 + n, title))
        got = "passes" if result.passed else f"`{result.reason}`"
        assert got == decision, f"{title}: the guide says {decision}, the filters say {got}"


def test_config_json_schema_accepts_the_examples_and_rejects_what_the_loader_rejects() -> None:
    """docs/config.schema.json (for editors) agrees with the loader on typical files."""
    import json

    import jsonschema
    import yaml

    from tvmaze_sync.core.config import build_config
    from tvmaze_sync.core.errors import ConfigError

    schema = json.loads((ROOT / "docs" / "config.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    env = {"SONARR_API_KEY": "k" * 32, "SONARR_URL": "http://sonarr:8989"}
    good = [
        yaml.safe_load((ROOT / "examples" / "config.yaml").read_text(encoding="utf-8")),
        {"sonarr": {"url": "${SONARR_URL}", "api_key": "${SONARR_API_KEY}", "tags": ["a"]}},
        {"sync": {"poll_interval": "6h"}, "filters": {"min_runtime": 20, "rating": {"min": 7.5}}},
        {"filters": {"premiered": {"after": "2010-01-01"}}, "tvmaze": {"rate_limit": 10}},
    ]
    for data in good:
        assert not list(validator.iter_errors(data)), data
        build_config(data, env)
    bad = [
        {"sonarr": {"ulr": "http://sonarr:8989"}},
        {"sonarr": {"monitor": "everything"}},
        {"tvmaze": {"rate_limit": 0}},
        {"tvmaze": {"base_url": "ftp://x"}},
        {"sync": {"poll_interval": "6 hours"}},
        {"filters": {"genres": {"exclude": "Reality"}}},
        {"dry_run": "perhaps"},
    ]
    for data in bad:
        assert list(validator.iter_errors(data)), data
        with pytest.raises(ConfigError):
            build_config(data, env)
