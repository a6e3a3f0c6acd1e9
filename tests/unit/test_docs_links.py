"""Relative links in README.md and docs/ resolve: to a file or folder inside the repository and, for
`file.md#anchor` or `#anchor`, to a heading of that file as GitHub names its anchor. http(s) and
mailto links are not followed. Nothing in the repository points at the shared folder beside it.
"""

import os
import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
IGNORED_SCHEMES = ("http://", "https://", "mailto:")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_HTML_ANCHOR = re.compile(r"""<[a-z]+\b[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans removed."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            lines.append(_INLINE_CODE.sub("", line))
    return lines


def links(text: str) -> list[str]:
    """Every link target in a Markdown text: inline links and images, reference definitions, HTML."""
    found: list[str] = []
    for line in prose_lines(text):
        found += [match.group(1) for match in _INLINE_LINK.finditer(line)]
        found += [match.group(1) for match in _REFERENCE_DEFINITION.finditer(line)]
        found += [match.group(1) for match in _HTML_LINK.finditer(line)]
    return [target.strip("<>") for target in found]


def github_slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it from the rendered text: lower case, punctuation other
    than `-` and `_` dropped, each space a hyphen (so "A & B" is "a--b")."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors a Markdown file has: one per heading (a repeated heading gets -1, -2, …), and the
    `id`/`name` of HTML elements."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    for line in prose_lines(text):
        if heading := _HEADING.match(line):
            slug = github_slug(heading.group(1))
            found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
            seen[slug] += 1
        found |= {match.group(1) for match in _HTML_ANCHOR.finditer(line)}
    return found


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of `document` that does not resolve, with the reason."""
    problems: list[str] = []
    for target in links(document.read_text(encoding="utf-8")):
        if target.lower().startswith(IGNORED_SCHEMES):
            continue
        path_part, _, anchor = target.partition("#")
        path_part = unquote(path_part)
        if not path_part:
            destination = document
        elif path_part.startswith("/"):  # GitHub reads a leading slash as the repository's root
            destination = root / path_part.lstrip("/")
        else:
            destination = document.parent / path_part
        destination = destination.resolve()
        if not destination.is_relative_to(root.resolve()):
            problems.append(f"{target}: outside the repository")
        elif not destination.exists():
            problems.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(destination.read_text("utf-8")):
            problems.append(f"{target}: no heading with anchor #{anchor} in {destination.relative_to(root)}")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    assert broken_links(document) == []


def test_the_documents_are_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in DOCUMENTS}
    assert {"README.md", "docs/API.md"} <= names
    assert len(names) >= 7  # the README, the contract and at least five topics


# Folders that are not the repository's own files: tools' environments, caches and build outputs.
_NOT_OURS = {".git", "node_modules", ".aws-sam", ".local", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
# A path to the folder beside the repository, written relatively or absolutely.
_SHARED = re.compile(r"\.\./+shared\b|" + re.escape(str(ROOT.parent / "shared")))


def repository_files() -> list[Path]:
    files: list[Path] = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in _NOT_OURS and not name.startswith(".venv")]
        files += [Path(folder, name) for name in names]
        files += [Path(folder, name) for name in subfolders if Path(folder, name).is_symlink()]
    return files


def test_nothing_points_outside_the_repository() -> None:
    offenders: list[str] = []
    for path in repository_files():
        name = path.relative_to(ROOT).as_posix()
        if path.is_symlink():
            if not path.resolve().is_relative_to(ROOT):
                offenders.append(f"{name}: a symlink to {path.readlink()}")
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary (the chart)
        if match := _SHARED.search(data.decode("utf-8", errors="replace")):
            offenders.append(f"{name}: {match.group(0)}")
    assert offenders == []


# The checker itself, on small documents.


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Quick start", "quick-start"),
        ("Security & reliability", "security--reliability"),
        ("With Docker: `sam local`", "with-docker-sam-local"),
        ("Fan-out for 100,000 learners in ≤ 5 minutes", "fan-out-for-100000-learners-in--5-minutes"),
        ("What stands in the way of 1.3\N{MULTIPLICATION SIGN}", "what-stands-in-the-way-of-13"),
        ("**Bold** and [a link](x.md)", "bold-and-a-link"),
        ("snake_case_name", "snake_case_name"),
    ],
)
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_links_skip_code_and_read_every_form() -> None:
    text = "\n".join(
        [
            'See [a](a.md), ![chart](img/c.png) and [b [nested]](b.md#part "title").',
            "Not a link: `[x](code.md)`.",
            "```",
            "[y](fenced.md)",
            "```",
            "[ref]: ref.md",
            '<a href="html.md">h</a> <img src="pic.png">',
            "Outside: <https://example.org>, [w](https://example.org), [m](mailto:a@b.c).",
        ]
    )
    assert links(text) == [
        "a.md",
        "img/c.png",
        "b.md#part",
        "ref.md",
        "html.md",
        "pic.png",
        "https://example.org",
        "mailto:a@b.c",
    ]


def test_broken_links_are_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "topic.md").write_text("# Topic\n\n## Same\n\n## Same\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Home\n[ok](docs/topic.md#same-1) [self](#home) [root](/docs/topic.md)\n"
        "[gone](docs/missing.md) [anchor](docs/topic.md#nothing) [out](../elsewhere/notes.md)\n"
        "[web](https://example.org/x.md)\n",
        encoding="utf-8",
    )
    assert broken_links(readme, tmp_path) == [
        "docs/missing.md: no such file",
        "docs/topic.md#nothing: no heading with anchor #nothing in docs/topic.md",
        "../elsewhere/notes.md: outside the repository",
    ]
