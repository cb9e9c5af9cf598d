#!/usr/bin/env python3
"""Report which MQTT normative statements the tests claim to cover.

The statement lists are docs/spec/mqtt-3.1.1-normative.tsv and
docs/spec/mqtt-5.0-normative.tsv (ID <TAB> section <TAB> text; lines starting
with '#' are comments; a first line starting with "ID" is a header).

Tagging convention
------------------
* A test claims a statement by carrying its ID written exactly as in the spec,
  in square brackets: ``[MQTT-3.3.1-4]``, in the Catch2 test name and/or tags:

      TEST_CASE("QoS 0 PUBLISH must have DUP 0 [MQTT-3.3.1-2]", "[codec][v5][MQTT-3.3.1-2]")

* Several IDs exist in both specs with different meanings (e.g. MQTT-4.7.1-1).
  The Catch2 tag ``[v311]`` or ``[v5]`` in the same TEST_CASE says which spec
  the IDs of that test refer to. An ID is counted
    - for MQTT 3.1.1 when the test case carries ``[v311]`` or no version tag,
    - for MQTT 5.0 when it carries ``[v5]`` or no version tag,
  and only if the ID exists in that version's list. A test with both tags
  counts for both. Split a test in two when the same check has different IDs
  in the two versions.
* In C++ files using Catch2, only IDs inside the arguments of TEST_CASE-like
  macros (TEST_CASE, TEST_CASE_METHOD, SCENARIO, TEMPLATE_*TEST_CASE) and
  SECTION-like macros (SECTION, DYNAMIC_SECTION, GIVEN, WHEN, THEN, AND_*) count;
  IDs in comments or in assertion strings do not. A SECTION without a version
  tag of its own inherits the version tags of the enclosing TEST_CASE.
* In other files (interop Python/shell scripts, C++ without Catch2 macros),
  every line holding an ID counts, with ``[v311]`` / ``[v5]`` on the same line
  selecting the version in the same way (put the IDs in the test's docstring
  or in a comment on the line that defines the test).

Scanned: tests/**/*.{cpp,hpp,py,sh} and interop/**/*.{cpp,hpp,py,sh}.

Usage: spec_coverage.py [--root DIR] [--list] [--json [FILE]]
Exit status is 0 unless a statement list is missing (2).
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

VERSIONS = {
    "3.1.1": ("mqtt-3.1.1-normative.tsv", "[v311]"),
    "5.0": ("mqtt-5.0-normative.tsv", "[v5]"),
}
SCAN_DIRS = ("tests", "interop")
SCAN_SUFFIXES = {".cpp", ".hpp", ".py", ".sh"}
CPP_SUFFIXES = {".cpp", ".hpp"}

ID_RE = re.compile(r"\[(MQTT-\d+(?:\.\d+)*-\d+)\]")
VERSION_TAG_RE = re.compile(r"\[(v311|v5)\]")
TEST_CASE_MACROS = (
    "TEST_CASE",
    "TEST_CASE_METHOD",
    "SCENARIO",
    "TEMPLATE_TEST_CASE",
    "TEMPLATE_TEST_CASE_SIG",
    "TEMPLATE_PRODUCT_TEST_CASE",
    "TEMPLATE_LIST_TEST_CASE",
)
SECTION_MACROS = ("SECTION", "DYNAMIC_SECTION", "GIVEN", "AND_GIVEN", "WHEN", "AND_WHEN", "THEN", "AND_THEN")
MACRO_RE = re.compile(r"\b(" + "|".join(TEST_CASE_MACROS + SECTION_MACROS) + r")\s*\(")


@dataclass
class Statement:
    id: str
    section: str
    text: str


@dataclass
class Reference:
    id: str
    versions: set[str]  # the version tags in force, as "3.1.1" / "5.0"; empty = both
    file: str
    line: int


@dataclass
class VersionReport:
    statements: dict[str, Statement]
    refs: dict[str, list[str]] = field(default_factory=dict)  # id -> ["file:line", ...]


def load_statements(path: Path) -> dict[str, Statement]:
    statements: dict[str, Statement] = {}
    header_seen = False
    with path.open(encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if not header_seen:
                header_seen = True
                if cols[0].strip().upper() == "ID":
                    continue
            sid = cols[0].strip()
            if sid.startswith("[") and sid.endswith("]"):
                sid = sid[1:-1]
            section = cols[1].strip() if len(cols) > 1 else ""
            text = cols[2].strip() if len(cols) > 2 else ""
            statements[sid] = Statement(sid, section, text)
    return statements


def blank_comments(src: str) -> tuple[str, list[tuple[int, int]]]:
    """Replaces C++ comments with spaces (newlines kept) so offsets and line
    numbers still match; string and character literals are left alone and their
    [start, end) spans returned, so that macro names inside them can be ignored."""
    out = list(src)
    spans: list[tuple[int, int]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "/" and i + 1 < n and src[i + 1] == "/":
            while i < n and src[i] != "\n":
                out[i] = " "
                i += 1
        elif c == "/" and i + 1 < n and src[i + 1] == "*":
            end = src.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for k in range(i, end):
                if src[k] != "\n":
                    out[k] = " "
            i = end
        elif c == "R" and i + 1 < n and src[i + 1] == '"' and raw_string_prefix_ok(src, i):
            open_paren = src.find("(", i + 2)
            if open_paren < 0:
                break
            delim = src[i + 2 : open_paren]
            end = src.find(")" + delim + '"', open_paren)
            end = n if end < 0 else end + len(delim) + 2
            spans.append((i, end))
            i = end
        elif c == '"':
            end = skip_quoted(src, i, '"')
            spans.append((i, end))
            i = end
        elif c == "'":
            # A digit separator (1'000) is not a character literal.
            if i > 0 and src[i - 1].isalnum() and i + 1 < n and src[i + 1].isalnum():
                i += 1
            else:
                end = skip_quoted(src, i, "'")
                spans.append((i, end))
                i = end
        else:
            i += 1
    return "".join(out), spans


def raw_string_prefix_ok(src: str, r: int) -> bool:
    """True when the R at src[r] starts a raw string literal (R, u8R, uR, UR, LR)."""
    start = r
    while start > 0 and (src[start - 1].isalnum() or src[start - 1] == "_"):
        start -= 1
    return src[start:r] in ("", "u8", "u", "U", "L")


def skip_quoted(src: str, i: int, quote: str) -> int:
    """Index just past the literal opened at src[i]."""
    i += 1
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == quote or c == "\n":  # a newline ends a broken literal
            return i + 1
        i += 1
    return n


def macro_arguments(src: str, open_paren: int) -> str:
    """Text between the parenthesis at open_paren and its match."""
    depth = 0
    i, n = open_paren, len(src)
    while i < n:
        c = src[i]
        if c == '"' or (c == "'" and not (src[i - 1].isalnum() and i + 1 < n and src[i + 1].isalnum())):
            i = skip_quoted(src, i, c)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return src[open_paren + 1 : i]
        i += 1
    return src[open_paren + 1 :]


def version_set(text: str) -> set[str]:
    tags = set(VERSION_TAG_RE.findall(text))
    return {"3.1.1" for t in tags if t == "v311"} | {"5.0" for t in tags if t == "v5"}


def scan_catch2(src: str, rel: str) -> list[Reference]:
    code, literal_spans = blank_comments(src)
    literal_starts = [start for start, _ in literal_spans]
    refs: list[Reference] = []
    case_versions: set[str] = set()
    for m in MACRO_RE.finditer(code):
        k = bisect.bisect_right(literal_starts, m.start()) - 1
        if k >= 0 and m.start() < literal_spans[k][1]:
            continue  # inside a string literal
        args = macro_arguments(code, m.end() - 1)
        versions = version_set(args)
        if m.group(1) in TEST_CASE_MACROS:
            case_versions = versions
        elif not versions:
            versions = case_versions
        line = code.count("\n", 0, m.start()) + 1
        for sid in ID_RE.findall(args):
            refs.append(Reference(sid, versions, rel, line))
    return refs


def scan_lines(src: str, rel: str) -> list[Reference]:
    refs: list[Reference] = []
    for number, line in enumerate(src.splitlines(), start=1):
        ids = ID_RE.findall(line)
        if ids:
            versions = version_set(line)
            refs.extend(Reference(sid, versions, rel, number) for sid in ids)
    return refs


def scan_sources(root: Path) -> list[Reference]:
    refs: list[Reference] = []
    for top in SCAN_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if not path.is_file() or path.suffix not in SCAN_SUFFIXES:
                continue
            if any(part.startswith(".") or part.startswith("build") for part in path.relative_to(root).parts[:-1]):
                continue
            try:
                src = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            rel = path.relative_to(root).as_posix()
            if path.suffix in CPP_SUFFIXES and MACRO_RE.search(src):
                refs.extend(scan_catch2(src, rel))
            else:
                refs.extend(scan_lines(src, rel))
    return refs


def build_reports(reports: dict[str, VersionReport], refs: list[Reference]) -> list[dict]:
    unknown: list[dict] = []

    def add_unknown(entry: dict) -> None:
        if entry not in unknown:
            unknown.append(entry)

    for ref in refs:
        wanted = ref.versions or set(reports)
        known_somewhere = False
        for version in sorted(wanted):
            report = reports[version]
            if ref.id in report.statements:
                where = report.refs.setdefault(ref.id, [])
                loc = f"{ref.file}:{ref.line}"
                if loc not in where:  # the same ID in a test's name and tags
                    where.append(loc)
                known_somewhere = True
            elif ref.versions:
                # Explicitly tagged for a version that has no such statement.
                add_unknown({"id": ref.id, "version": version, "where": f"{ref.file}:{ref.line}"})
        if not ref.versions and not known_somewhere:
            add_unknown({"id": ref.id, "version": None, "where": f"{ref.file}:{ref.line}"})
    return unknown


def percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 0.0


def id_key(sid: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", sid)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="MQTT normative statement coverage of the tests.")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="repository root (default: the parent of scripts/)")
    parser.add_argument("--list", action="store_true", help="list covered and missing IDs per version")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE",
                        help="write machine-readable output to FILE ('-' or no value: stdout)")
    args = parser.parse_args(argv)

    root: Path = args.root
    reports: dict[str, VersionReport] = {}
    for version, (name, _) in VERSIONS.items():
        path = root / "docs" / "spec" / name
        if not path.is_file():
            print(f"spec_coverage: missing statement list {path}", file=sys.stderr)
            return 2
        reports[version] = VersionReport(load_statements(path))

    unknown = build_reports(reports, scan_sources(root))

    summary = ", ".join(
        f"MQTT {v} {len(r.refs)}/{len(r.statements)} ({percent(len(r.refs), len(r.statements)):.1f}%)"
        for v, r in reports.items())
    json_to_stdout = args.json == "-"
    out = sys.stderr if json_to_stdout else sys.stdout
    print(f"spec coverage: {summary}", file=out)

    if args.list:
        for version, report in reports.items():
            covered = sorted(report.refs, key=id_key)
            missing = sorted((s for s in report.statements if s not in report.refs), key=id_key)
            print(f"\nMQTT {version} covered ({len(covered)}):", file=out)
            for sid in covered:
                where = report.refs[sid]
                more = f" (+{len(where) - 1} more)" if len(where) > 1 else ""
                print(f"  {sid:<16} {report.statements[sid].section:<40.40} {where[0]}{more}", file=out)
            print(f"\nMQTT {version} missing ({len(missing)}):", file=out)
            for sid in missing:
                st = report.statements[sid]
                print(f"  {sid:<16} {st.section:<40.40} {st.text[:70]}", file=out)
        if unknown:
            print(f"\nunknown IDs ({len(unknown)}):", file=out)
            for u in unknown:
                scope = f"not in MQTT {u['version']}" if u["version"] else "in neither list"
                print(f"  {u['id']:<16} {scope:<20} {u['where']}", file=out)

    if args.json is not None:
        data = {
            "versions": {
                version: {
                    "total": len(r.statements),
                    "covered_count": len(r.refs),
                    "percent": round(percent(len(r.refs), len(r.statements)), 1),
                    "covered": {sid: r.refs[sid] for sid in sorted(r.refs, key=id_key)},
                    "missing": sorted((s for s in r.statements if s not in r.refs), key=id_key),
                }
                for version, r in reports.items()
            },
            "unknown": unknown,
        }
        text = json.dumps(data, indent=2) + "\n"
        if json_to_stdout:
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    sys.exit(main(sys.argv[1:]))
