"""The docs cannot drift from the code: flag tables against the real parsers, named tests and paths, links.

A table of ``otel-logging`` flags sits under a ``<!-- flags: COMMAND -->`` comment (``serve``, ``aggregate``,
``dashboard``, ``kibana import``) and has the columns ``flag | default | meaning``. A command's tables, on
whatever pages they are, together document each of its parser's options exactly once. A default written as
one code span (`` `4317` ``, `` `64MiB` ``, `` `$KIBANA_API_KEY` ``) equals the parser's default, read through
the option's own type; a default in words (or none) means the parser has no default of its own (None, False
or an empty list), and ``required`` means the option is required. ``make docs`` (mkdocs --strict) checks the
links between the pages; this file checks the rest.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from otel_logging.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
PAGES = sorted(DOCS.rglob("*.md"))
MARKDOWN = [README, *PAGES]

MARKER = re.compile(r"^<!--\s*flags:\s*(.+?)\s*-->$")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
REPO_DIRS = ("bench", "collector-config", "dashboards", "docs", "fuzz", "logstash", "native", "otel_logging", "scripts")


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    inside = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, line


def split_row(line: str) -> list[str]:
    """Cells of a Markdown table row; a ``|`` inside a code span does not split."""
    cells, cell, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    cells.append(cell.strip())
    return cells


@dataclass
class Table:
    path: Path
    line: int
    marker: str | None
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{rel(self.path)}:{self.line}"


def tables(path: Path) -> list[Table]:
    found: list[Table] = []
    previous = ""  # the last non-blank line before the current one
    current: Table | None = None
    for number, line in prose_lines(path):
        if line.lstrip().startswith("|"):
            if current is None:
                match = MARKER.match(previous.strip())
                current = Table(path, number, match.group(1) if match else None, split_row(line))
                found.append(current)
            elif not re.fullmatch(r"[\s|:-]+", line):
                current.rows.append(split_row(line))
        else:
            current = None
        if line.strip():
            previous = line
    return found


def flag_tables() -> list[Table]:
    return [t for path in MARKDOWN for t in tables(path) if t.header and t.header[0].lower() == "flag"]


def subcommand_parser(command: str) -> argparse.ArgumentParser:
    """The live parser of ``otel-logging COMMAND`` (``kibana import``: one level down)."""
    parser = build_parser()
    for name in command.split():
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert name in sub.choices, f"otel-logging has no subcommand {command!r}"
        parser = sub.choices[name]
    return parser


def leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix.strip()]
    return [c for name, child in subs[0].choices.items() for c in leaf_commands(child, f"{prefix} {name}")]


def documented_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]


def names_of(action: argparse.Action) -> set[str]:
    if action.option_strings:
        return set(action.option_strings)
    return {str(action.metavar or action.dest)}


def stated_default(action: argparse.Action, text: str) -> object:
    """What the docs' `` `text` `` means as this option's default."""
    if text.startswith("$"):
        return os.environ.get(text[1:])
    return action.type(text) if callable(action.type) else text


def has_no_default(action: argparse.Action) -> bool:
    return action.default is None or action.default is False or action.default == []


FLAG_TABLES = flag_tables()
DOCUMENTED_COMMANDS = sorted({t.marker for t in FLAG_TABLES if t.marker})


def test_the_docs_have_flag_tables_for_every_subcommand() -> None:
    assert FLAG_TABLES, "no flag table found under docs/"
    assert sorted(leaf_commands(build_parser())) == DOCUMENTED_COMMANDS


def test_every_flag_table_names_its_command_and_has_the_three_columns() -> None:
    for table in FLAG_TABLES:
        assert table.marker, f"{table.where}: a flag table needs a '<!-- flags: COMMAND -->' line above it"
        assert [h.lower() for h in table.header] == ["flag", "default", "meaning"], table.where
        for row in table.rows:
            assert len(row) == 3, f"{table.where}: row {row} does not have three cells"
            assert row[2], f"{table.where}: {row[0]} has no meaning"
    for path in MARKDOWN:
        markers = [n for n, line in prose_lines(path) if MARKER.match(line.strip())]
        tabled = [t.line for t in tables(path) if t.marker]
        assert len(markers) == len(tabled), f"{rel(path)}: a flags comment at line(s) {markers} has no table under it"


@pytest.mark.parametrize("command", DOCUMENTED_COMMANDS)
def test_flag_tables_match_the_real_parser(command: str) -> None:
    parser = subcommand_parser(command)
    by_name = {name: action for action in documented_options(parser) for name in names_of(action)}
    seen: dict[str, str] = {}
    for table in (t for t in FLAG_TABLES if t.marker == command):
        for flag_cell, default_cell, _meaning in table.rows:
            spans = CODE_SPAN.findall(flag_cell)
            assert spans, f"{table.where}: {flag_cell!r} names no flag in backticks"
            names = [span.split()[0] for span in spans]
            for name in names:
                assert name in by_name, f"{table.where}: otel-logging {command} has no option {name}"
                assert name not in seen, f"{table.where}: {name} is documented twice (also {seen[name]})"
                seen[name] = table.where
            actions = {id(by_name[name]): by_name[name] for name in names}
            assert len(actions) == 1, f"{table.where}: {names} are not one option"
            (action,) = actions.values()
            stated = re.fullmatch(r"`([^`]+)`", default_cell)
            where = f"{table.where}: otel-logging {command} {names[0]}"
            if stated:
                expected = stated_default(action, stated.group(1))
                assert action.default == expected, f"{where}: docs {stated.group(1)}, parser {action.default!r}"
            else:
                assert has_no_default(action), f"{where}: the parser's default is {action.default!r}; state it as `...`"
            assert (default_cell.lower() == "required") == bool(action.required), f"{where}: required or not?"
    missing = sorted(set(by_name) - set(seen))
    assert not missing, f"otel-logging {command}: options not documented in any flag table: {missing}"


def test_the_setup_table_names_every_argument_of_setup() -> None:
    import otel_logging

    (table,) = [t for t in tables(DOCS / "configuration.md") if t.header and t.header[0] == "argument"]
    documented = [CODE_SPAN.findall(row[0])[0] for row in table.rows]
    assert sorted(documented) == sorted(inspect.signature(otel_logging.setup).parameters)


def named_tests(path: Path) -> Iterator[tuple[str, str | None, str | None]]:
    """(reference, test file, test function) for each test the page names; ``::name`` is of the last file."""
    last: str | None = None
    pattern = re.compile(r"((?:tests/[\w/]+/)?test_\w+\.py)|::(test_\w+)")
    for match in pattern.finditer(path.read_text()):
        if match.group(1):
            last = match.group(1)
            yield match.group(0), last, None
        else:
            yield match.group(0), last, match.group(2)


def find_test_file(name: str) -> Path | None:
    if "/" in name:
        return REPO / name if (REPO / name).is_file() else None
    candidates = sorted((REPO / "tests").rglob(name))
    return candidates[0] if len(candidates) == 1 else None


@pytest.mark.parametrize("path", MARKDOWN, ids=rel)
def test_every_named_test_exists(path: Path) -> None:
    for reference, file_name, function in named_tests(path):
        assert file_name, f"{rel(path)}: {reference} follows no test file"
        test_file = find_test_file(file_name)
        assert test_file, f"{rel(path)}: no single test file {file_name}"
        if function:
            defined = re.search(rf"^\s*(async\s+)?def {function}\(", test_file.read_text(), re.MULTILINE)
            assert defined, f"{rel(path)}: {rel(test_file)} has no test {function}"


def named_paths(path: Path) -> Iterator[str]:
    for _, line in prose_lines(path):
        for span in CODE_SPAN.findall(line):
            token = span.split()[0].split("::")[0] if span.split() else ""
            if token.split("/")[0] in REPO_DIRS and "/" in token and not re.search(r"[<>${}]|\.\.\.", token):
                yield token


@pytest.mark.parametrize("path", MARKDOWN, ids=rel)
def test_every_repository_path_named_exists(path: Path) -> None:
    for name in named_paths(path):
        exists = any(REPO.glob(name)) if "*" in name else (REPO / name).exists()
        assert exists, f"{rel(path)} names {name}, which is not in the repository"


def github_slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def mkdocs_slug(heading: str) -> str:
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def anchors(path: Path, slug: object) -> set[str]:
    found = set()
    for _, line in prose_lines(path):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).replace("`", "")
            found.add(slug(text))  # type: ignore[operator]
    return found


def relative_links(path: Path) -> Iterator[str]:
    for _, line in prose_lines(path):
        for target in LINK.findall(line):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):
                yield target


@pytest.mark.parametrize("path", MARKDOWN, ids=rel)
def test_relative_links_point_to_existing_files_and_headings(path: Path) -> None:
    """On GitHub and in the site alike (mkdocs --strict checks the site again in make docs)."""
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{rel(path)}: the link {target} points to nothing"
        if path.parent == DOCS or DOCS in path.parents:
            assert DOCS in linked.parents or linked == DOCS, f"{rel(path)}: {target} leaves docs/ (the site)"
        if anchor:
            assert linked.suffix == ".md", f"{rel(path)}: {target}: an anchor in a file that is not a page"
            for slug in (github_slug, mkdocs_slug):
                assert anchor in anchors(linked, slug), f"{rel(path)}: {rel(linked)} has no heading #{anchor}"


def test_readme_links_into_the_docs() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert DOCS / "index.md" in linked and DOCS / "SECURITY.md" in linked


def test_readme_starts_with_the_two_commands_and_stays_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail into docs/"
    assert lines[0].startswith("# ")
    fence = next(i for i, line in enumerate(lines) if FENCE.match(line))
    assert all(not line.startswith("#") for line in lines[1:fence]) and fence <= 3, "the commands come first"
    assert lines[fence + 1].startswith("make run ") and lines[fence + 2].startswith("make test ")
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)


def nav_pages(entries: list[object]) -> Iterator[str]:
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        yield from nav_pages(value) if isinstance(value, list) else [str(value)]


def test_every_page_is_in_the_site_navigation_once() -> None:
    in_nav = list(nav_pages(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]))
    assert sorted(in_nav) == sorted(str(p.relative_to(DOCS)) for p in PAGES)
