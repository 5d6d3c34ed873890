"""A local knowledge base: the documents of one directory, indexed for full-text search.

``KnowledgeBase.open(directory)`` reads every supported file under the directory (Markdown,
plain text, reStructuredText, HTML, PDF), cuts each into passages of a few paragraphs and
indexes them in a SQLite FTS5 table kept in podium's cache directory. Reopening is
incremental: only files whose size or modification time changed are read again. A passage's
id, ``"<document>#<n>"``, stays the same while its file does, so answers can cite it.

``search_tool(knowledge)`` turns a knowledge base into the ``search_docs`` tool for agents.

The index is a cache: delete it at will, it is rebuilt from the documents.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import textwrap
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Final, Self

import platformdirs

from podium.errors import ConfigError
from podium.input_limits import LIMITS, check_size
from podium.tool import Tool, tool

__all__ = ["DOCUMENT_SUFFIXES", "KnowledgeBase", "Passage", "document_files", "search_tool"]

logger = logging.getLogger(__name__)

_SCHEMA_VERSION: Final = 1
"""Layout of the index file (``PRAGMA user_version``); an index of another version is rebuilt.

1: documents, passages and the passage_index FTS5 table over passages.
"""
_SCHEMA: Final = """
DROP TABLE IF EXISTS passage_index;
DROP TABLE IF EXISTS passages;
DROP TABLE IF EXISTS documents;
CREATE TABLE documents(path TEXT PRIMARY KEY, title TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, passages INTEGER NOT NULL);
CREATE TABLE passages(rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    document TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX passages_by_document ON passages(document);
CREATE VIRTUAL TABLE passage_index USING fts5(title, text, content='passages',
    content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER passages_added AFTER INSERT ON passages BEGIN
    INSERT INTO passage_index(rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TRIGGER passages_removed AFTER DELETE ON passages BEGIN
    INSERT INTO passage_index(passage_index, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
END;
"""
_SEARCH: Final = (
    "SELECT p.id, p.document, p.title, p.text, bm25(passage_index, 0.5, 1.0) AS cost"
    " FROM passage_index JOIN passages AS p ON p.rowid = passage_index.rowid"
    " WHERE passage_index MATCH ? ORDER BY cost, p.rowid LIMIT ?"
)
_CACHE_ENV_VAR: Final = "PODIUM_CACHE_DIR"
_TARGET_CHARS: Final = 700
"""Consecutive paragraphs are merged into one passage until it holds about this much text."""
_MAX_CHARS: Final = 1200
"""A longer paragraph is split at sentence ends."""
_MAX_QUERY_TERMS: Final = 32
_WORD: Final = re.compile(r"[^\W_]+")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+")
_HEADING: Final = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_RULE: Final = re.compile(r"^ {0,3}([-=*_])(?:\s*\1){2,}\s*$")
_FENCE: Final = re.compile(r"^ {0,3}(```|~~~)")
_FRONT_MATTER: Final = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*\n", re.DOTALL)
_STOPWORDS: Final = frozenset(
    """
    about above after again all also am an and any are as at be because been before being between
    both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how if in into is it its itself just me more most my no nor
    not now of off on once only or other our out over own same she should so some such than that
    the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours
    """.split()  # noqa: SIM905 - a word list reads best as words
)
DOCUMENT_SUFFIXES: Final = frozenset({".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf"})
"""The kinds of file a knowledge base reads."""
_SKIPPED_TAGS: Final = frozenset({"script", "style", "template"})
_BLOCK_TAGS: Final = frozenset(
    """
    address article aside blockquote dd div dl dt figcaption footer form header hr li main nav
    ol p pre section table td th tr ul
    """.split()  # noqa: SIM905
)
_HEADING_TAGS: Final = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Passage:
    """A few paragraphs of one document: what a search finds and an answer cites."""

    id: str
    """``"<document>#<n>"``, ``n`` counting the document's passages from 1."""
    document: str
    """The document's path relative to the directory, with forward slashes."""
    title: str
    """The document's title: its first heading, HTML ``<title>``, PDF title, or file stem."""
    text: str
    score: float = 0.0
    """Relevance to the query, higher is better; 0 when fetched by id."""


class KnowledgeBase:
    """Documents of one directory indexed for full-text search (SQLite FTS5).

    Make one with ``KnowledgeBase.open``; close it when done (it is a context manager).
    Searches may run from several threads at once.
    """

    def __init__(self, directory: Path, connection: sqlite3.Connection) -> None:
        self._directory = directory
        self._connection = connection
        self._lock = threading.Lock()
        self.problems: tuple[tuple[str, str], ...] = ()
        """``(document, reason)`` of each file the last indexing skipped as unreadable."""
        self.indexed_files = 0
        """How many files the last indexing read; unchanged files are not read again."""

    @classmethod
    def open(cls, directory: str | Path, *, cache_dir: Path | None = None) -> KnowledgeBase:
        """Index ``directory`` and its subdirectories, reading only what changed since last time.

        Args:
            directory: the documents' directory. Hidden files and folders are left out, and
                so are files other than .md .markdown .txt .rst .html .htm .pdf.
            cache_dir: where the index file goes; by default ``knowledge`` in
                ``$PODIUM_CACHE_DIR``, else in the user's cache directory.

        Returns:
            The open knowledge base; unreadable files are listed in ``problems``.

        Raises:
            ConfigError: ``directory`` does not exist or is not a directory.
        """
        root = Path(directory).expanduser().resolve()
        if not root.is_dir():
            msg = f"knowledge directory {str(directory)!r} does not exist or is not a directory"
            raise ConfigError(msg)
        folder = cache_dir if cache_dir is not None else _default_cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:24]
        knowledge = cls(root, _connect(folder / f"{digest}.sqlite3"))
        try:
            knowledge._index()
        except BaseException:
            knowledge.close()
            raise
        return knowledge

    @property
    def directory(self) -> Path:
        """The indexed directory (absolute)."""
        return self._directory

    def documents(self) -> list[tuple[str, str, int]]:
        """Every indexed document as ``(document, title, passage count)``, sorted by document."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT path, title, passages FROM documents ORDER BY path"
            ).fetchall()
        return [(str(path), str(title), int(count)) for path, title, count in rows]

    def search(self, query: str, *, limit: int = 5) -> list[Passage]:
        """The passages that best match ``query`` (BM25 ranking), best first.

        Args:
            query: free text; any characters are safe. Words of one letter and common
                English words are ignored; a passage matches if it holds any other word
                (or a word of the same stem: "bikes" finds "bike").
            limit: at most this many passages.

        Returns:
            The passages, highest ``score`` first; empty when the query has no usable word.
        """
        words = _query_words(query)
        if not words or limit < 1:
            return []
        match = " OR ".join(f'"{word}"' for word in words)
        with self._lock:
            rows = self._connection.execute(_SEARCH, (match, limit)).fetchall()
        return [
            Passage(id=id_, document=document, title=title, text=text, score=-cost)
            for id_, document, title, text, cost in rows
        ]

    def passage(self, passage_id: str) -> Passage | None:
        """The passage with id ``passage_id`` (as ``search`` returned it), or None."""
        with self._lock:
            row = self._connection.execute(
                "SELECT id, document, title, text FROM passages WHERE id = ?", (passage_id,)
            ).fetchone()
        if row is None:
            return None
        return Passage(id=row[0], document=row[1], title=row[2], text=row[3])

    def close(self) -> None:
        """Close the index file; the knowledge base cannot be used afterwards."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _index(self) -> None:
        known = {
            path: (size, mtime_ns)
            for path, size, mtime_ns in self._connection.execute(
                "SELECT path, size, mtime_ns FROM documents"
            )
        }
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        for file in document_files(self._directory):
            name = file.relative_to(self._directory).as_posix()
            seen.add(name)
            try:
                stat = file.stat()
                if known.get(name) == (stat.st_size, stat.st_mtime_ns):
                    continue
                check_size(f"document {name}", stat.st_size, LIMITS.document_bytes)
                title, passages = _parse(file)
            # Any exception: third-party parsers raise many kinds on malformed files.
            except Exception as exc:
                logger.warning("knowledge: skipped %s: %s", file, exc)
                problems.append((name, f"{type(exc).__name__}: {exc}"))
                self._forget(name)
                continue
            self._store(name, title, passages, stat)
        for name in known.keys() - seen:
            self._forget(name)
        self.problems = tuple(problems)

    def _store(self, name: str, title: str, passages: list[str], stat: os.stat_result) -> None:
        with self._connection:
            self._connection.execute("DELETE FROM passages WHERE document = ?", (name,))
            self._connection.executemany(
                "INSERT INTO passages(id, document, title, text) VALUES (?, ?, ?, ?)",
                [(f"{name}#{n}", name, title, text) for n, text in enumerate(passages, 1)],
            )
            self._connection.execute(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)",
                (name, title, stat.st_size, stat.st_mtime_ns, len(passages)),
            )
        self.indexed_files += 1

    def _forget(self, name: str) -> None:
        with self._connection:
            self._connection.execute("DELETE FROM passages WHERE document = ?", (name,))
            self._connection.execute("DELETE FROM documents WHERE path = ?", (name,))


def search_tool(knowledge: KnowledgeBase) -> Tool:
    """The ``search_docs`` tool: full-text search over ``knowledge`` for an agent."""

    def search_docs(query: str, limit: int = 4) -> list[dict[str, str]]:
        """Search the team's documents for passages about a topic; cite passages by their id.

        Args:
            query: keywords to look for, e.g. "e-bike battery range winter".
            limit: how many passages to return (1 to 20).
        """
        found = knowledge.search(query, limit=max(1, min(limit, 20)))
        return [
            {"id": p.id, "document": p.document, "title": p.title, "text": p.text} for p in found
        ]

    return tool(search_docs)


def _default_cache_dir() -> Path:
    configured = os.environ.get(_CACHE_ENV_VAR)
    root = Path(configured).expanduser() if configured else platformdirs.user_cache_path("podium")
    return root / "knowledge"


def _connect(path: Path) -> sqlite3.Connection:
    """Open the index at ``path``, (re)building it when its layout is not this version's."""
    try:
        return _open_index(path)
    except sqlite3.OperationalError:  # locked, or cannot be opened: not ours to delete
        raise
    except sqlite3.DatabaseError:  # not a database, or malformed: the index is only a cache
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return _open_index(path)


def _open_index(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA busy_timeout=5000")
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version != _SCHEMA_VERSION:
            script = f"BEGIN; {_SCHEMA} PRAGMA user_version={_SCHEMA_VERSION}; COMMIT;"
            connection.executescript(script)
    except BaseException:
        connection.close()
        raise
    return connection


def document_files(directory: Path) -> list[Path]:
    """The files under ``directory`` a knowledge base reads (hidden ones left out), sorted."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.suffix.lower() in DOCUMENT_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
        and path.is_file()
    )


def _parse(file: Path) -> tuple[str, list[str]]:
    """The title and the passages of one file."""
    title, text = _read(file)
    blocks = _blocks(text)
    title = title or next((block for is_heading, block in blocks if is_heading), file.stem)
    return title, _passages(blocks)


def _read(file: Path) -> tuple[str, str]:
    """A file's title ("" if it has none beyond its headings) and its Markdown-like text."""
    suffix = file.suffix.lower()
    if suffix == ".pdf":
        import pypdf  # here, not at the top: it takes ~70 ms to import and few runs read PDFs

        reader = pypdf.PdfReader(file)
        title = reader.metadata.title if reader.metadata is not None else None
        pages = "\n\n".join(page.extract_text() for page in reader.pages)
        return " ".join((title or "").split()), pages
    text = file.read_bytes().decode("utf-8-sig")
    if suffix in (".html", ".htm"):
        parser = _HtmlText()
        parser.feed(text)
        parser.close()
        return " ".join(parser.title.split()) or parser.first_h1, "".join(parser.parts)
    return "", _FRONT_MATTER.sub("", text, count=1)


class _HtmlText(HTMLParser):
    """The text of an HTML page as Markdown-like paragraphs, headings marked with ``#``."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.title = ""
        self.first_h1 = ""
        self._skipping = 0
        self._in_title = False
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HEADING_TAGS:
            self._heading = []
        elif tag in _BLOCK_TAGS or tag == "br":
            self.parts.append("\n" if tag == "br" else "\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _HEADING_TAGS and self._heading is not None:
            text = " ".join("".join(self._heading).split())
            self.parts.append(f"\n\n# {text}\n\n")
            if tag == "h1" and not self.first_h1:
                self.first_h1 = text
            self._heading = None
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._heading is not None:
            self._heading.append(data)
        elif not self._skipping:
            self.parts.append(data)


def _blocks(text: str) -> list[tuple[bool, str]]:
    """Markdown-like text as ``(is_heading, text)`` blocks, whitespace collapsed."""
    blocks: list[tuple[bool, str]] = []
    lines: list[str] = []
    in_fence = False
    for line in [*text.splitlines(), ""]:
        heading = None if in_fence else _HEADING.match(line)
        rule = None if in_fence else _RULE.match(line)
        if _FENCE.match(line):
            in_fence = not in_fence
        elif rule and len(lines) == 1 and rule.group(1) in "=-":
            blocks.append((True, lines.pop()))  # a setext heading: the line above is underlined
        elif heading or rule or not line.strip():
            if lines:
                blocks.append((False, " ".join(lines)))
                lines.clear()
            if heading and heading.group(1):
                blocks.append((True, " ".join(heading.group(1).split())))
        else:
            lines.append(" ".join(line.split()))
    return blocks


def _passages(blocks: list[tuple[bool, str]]) -> list[str]:
    """Cut blocks into passages: a heading starts one, short paragraphs join, long ones split."""
    passages: list[str] = []
    current: list[str] = []
    size = 0
    has_body = False
    for is_heading, block in blocks:
        for piece in [block] if is_heading else _pieces(block):
            closes = is_heading or size >= _TARGET_CHARS or size + len(piece) > _MAX_CHARS
            if has_body and closes:
                passages.append("\n".join(current))
                current, size, has_body = [], 0, False
            current.append(piece)
            size += len(piece)
            has_body = has_body or not is_heading
    if current:
        passages.append("\n".join(current))
    return passages


def _pieces(paragraph: str) -> list[str]:
    """A paragraph, cut at sentence ends into pieces of about ``_TARGET_CHARS`` if too long."""
    if len(paragraph) <= _MAX_CHARS:
        return [paragraph]
    sentences = [
        part
        for sentence in _SENTENCE_END.split(paragraph)
        for part in textwrap.wrap(sentence, _MAX_CHARS)
    ]
    pieces = [sentences[0]]
    for sentence in sentences[1:]:
        if len(pieces[-1]) + 1 + len(sentence) > _TARGET_CHARS:
            pieces.append(sentence)
        else:
            pieces[-1] += " " + sentence
    return pieces


def _query_words(query: str) -> list[str]:
    """The distinct searchable words of a free-text query, in order; FTS syntax is inert."""
    words = (word for word in _WORD.findall(query.casefold()) if len(word) > 1)
    kept = dict.fromkeys(word for word in words if word not in _STOPWORDS)
    return list(kept)[:_MAX_QUERY_TERMS]
