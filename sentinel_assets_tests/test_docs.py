"""The documentation stands alone: it cites no file outside the repository, its links resolve,
every page under docs/ is linked from the README, and references to a section of docs/design.md
name a heading that exists."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _documents() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted(DOCS.glob("*.md"))]
    # the deployment files a reader opens too
    files += [ROOT / name for name in (".env.example", "deploy/dagster.yaml", "Dockerfile",
                                       "docker-compose.yaml", "Makefile", "workspace.yaml",
                                       "workspace.stack.yaml", "scripts/stack.sh", ".ci/run")]
    for package in ("sentinel_assets", "bench", "scripts"):
        files += sorted((ROOT / package).rglob("*.py"))
    return [f for f in files if f.is_file()]


DOCUMENTS = _documents()
IDS = [str(p.relative_to(ROOT)) for p in DOCUMENTS]
# ../something, as a relative path in prose, a link or a code span
PARENT_PATH = re.compile(r"(?<![\w./])((?:\.\./)+[\w.$/-]*)")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
# docs/design.md, "Heading"  (in docstrings, the heading may wrap onto the next line)
# the design notes that live outside the repository (spelled in two parts so that a grep for
# the name over the repository comes back empty)
OUTSIDE_DESIGN = "DESIGN" + ".md"
DESIGN_SECTION = re.compile(r"design\.md`{0,2},\s*\"([^\"]+)\"")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _headings(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")]


def test_documents_are_found():
    assert ROOT / "README.md" in DOCUMENTS and (DOCS / "design.md") in DOCUMENTS
    assert any(p.suffix == ".py" for p in DOCUMENTS)


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_no_citation_of_files_outside_the_repository(path: Path):
    text = path.read_text(encoding="utf-8")
    assert OUTSIDE_DESIGN not in text, f"{_rel(path)} cites {OUTSIDE_DESIGN}; cite docs/design.md"
    outside = []
    for match in PARENT_PATH.finditer(text):
        target = (path.parent / match.group(1)).resolve()
        if ROOT not in target.parents and target != ROOT:
            outside.append(match.group(1))
    assert outside == [], f"{_rel(path)} cites paths outside the repository: {outside}"
    # the folder the checkout sits in (its siblings are outside the repository); not when the
    # checkout sits in the temp dir, whose paths the benchmark commands use as scratch space
    if str(ROOT.parent) not in (tempfile.gettempdir(), "/"):
        assert str(ROOT.parent) + "/" not in text.replace(str(ROOT) + "/", ""), (
            f"{_rel(path)} cites an absolute path outside the repository")


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if p.suffix == ".md"],
                         ids=[i for p, i in zip(DOCUMENTS, IDS) if p.suffix == ".md"])
def test_markdown_links_resolve(path: Path):
    broken = []
    for target in MD_LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        file = (path.parent / file_part).resolve() if file_part else path
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in map(_anchor, _headings(file)):
            broken.append(target)
    assert broken == [], f"{_rel(path)} has broken links: {broken}"


def test_every_docs_file_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {t.partition("#")[0] for t in MD_LINK.findall(readme)}
    missing = [f"docs/{p.name}" for p in sorted(DOCS.iterdir())
               if p.is_file() and f"docs/{p.name}" not in linked]
    assert missing == [], f"README.md does not link {missing}"


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_design_sections_cited_exist(path: Path):
    headings = {" ".join(h.split()) for h in _headings(DOCS / "design.md")}
    cited = {" ".join(m.split()) for m in DESIGN_SECTION.findall(path.read_text(encoding="utf-8"))}
    assert cited - headings == set(), f"{_rel(path)} cites missing sections of docs/design.md"
