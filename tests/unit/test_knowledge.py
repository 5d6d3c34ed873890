"""KnowledgeBase: indexing each format, passages, search, incremental reindex, the search tool."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest
from fpdf import FPDF

from podium.errors import ConfigError
from podium.knowledge import KnowledgeBase, Passage, search_tool

EBIKES = """\
# E-bikes in cities

Sales of electric bicycles doubled in five years.

## Winter

Cold weather cuts the battery range of an e-bike by a third; riders should store batteries indoors.
"""
BUSES = "Buses run on diesel.\n\nElectric buses need a big battery.\n"
TRAMS = """\
<html><head><title>Tram network</title><style>p { color: tram; }</style></head>
<body><h1>Trams</h1><script>var rails = "secret script text";</script>
<p>The tram carries 40&nbsp;000 passengers &amp; their luggage every day.</p></body></html>
"""


def write_pdf(path: Path, title: str, pages: list[str]) -> None:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "reports").mkdir(parents=True)
    (folder / "reports" / "ebikes.md").write_text(EBIKES)
    (folder / "trams.html").write_text(TRAMS)
    (folder / "buses.txt").write_text(BUSES)
    write_pdf(folder / "cargo.pdf", "Cargo bikes", ["Cargo bikes carry groceries.", "Tariffs."])
    return folder


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_every_supported_format_is_indexed_with_its_title(docs: Path, cache: Path) -> None:
    (docs / "notes.docx").write_text("ignored: not a supported format")
    (docs / ".hidden.md").write_text("# Hidden\n\nignored: hidden")
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert kb.directory == docs.resolve()
        assert kb.problems == ()
        assert kb.documents() == [
            ("buses.txt", "buses", 1),
            ("cargo.pdf", "Cargo bikes", 1),
            ("reports/ebikes.md", "E-bikes in cities", 2),
            ("trams.html", "Tram network", 1),
        ]


def test_html_text_leaves_out_scripts_and_styles(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        tram = kb.passage("trams.html#1")
        assert kb.search("secret script rails") == []
    assert tram is not None
    assert tram.text == "Trams\nThe tram carries 40 000 passengers & their luggage every day."


def test_html_without_a_title_takes_its_first_h1(docs: Path, cache: Path) -> None:
    (docs / "trams.html").write_text("<h2>Lines</h2><h1>Tram lines</h1><p>Line 4 is new.</p>")
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert ("trams.html", "Tram lines", 1) in kb.documents()


def test_markdown_front_matter_setext_headings_and_code_fences(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.markdown").write_text(
        "---\ntitle: ignored\n---\nRiding guide\n============\n\nWear a helmet.\n\n"
        "```sh\n# lock the bike\nlock --tight\n```\n"
    )
    with KnowledgeBase.open(tmp_path / "docs", cache_dir=tmp_path / "cache") as kb:
        assert kb.documents() == [("guide.markdown", "Riding guide", 1)]
        guide = kb.passage("guide.markdown#1")
    assert guide is not None
    assert guide.text == "Riding guide\nWear a helmet.\n# lock the bike lock --tight"


def test_the_passage_holding_the_terms_ranks_first(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        found = kb.search("How does cold weather affect the battery?")
    assert [p.id for p in found] == ["reports/ebikes.md#2", "buses.txt#1"]
    assert found[0].text.startswith("Winter\nCold weather cuts the battery range")
    assert found[0].title == "E-bikes in cities"
    assert all(p.score > 0 for p in found)
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)


def test_words_match_their_stem(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert {p.document for p in kb.search("bike")} >= {"cargo.pdf", "reports/ebikes.md"}
        assert [p.id for p in kb.search("passenger")] == ["trams.html#1"]


def test_search_respects_the_limit(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert len(kb.search("bikes buses trams", limit=2)) == 2
        assert kb.search("bikes", limit=0) == []


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced quote',
        "(battery AND) OR NOT NEAR(range, 5)",
        "batter* -cold title:winter ^start {a b}",
        "col:umn + ; ' \" \\ ** ()",
        "NEAR",
        "AND OR NOT",
    ],
)
def test_fts_syntax_in_a_query_is_just_text(docs: Path, cache: Path, query: str) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        found = kb.search(query)
    assert all(isinstance(p, Passage) for p in found)


@pytest.mark.parametrize("query", ["", "   ", "the and of a", "!!! ??? ...", "x y z"])
def test_a_query_without_usable_words_finds_nothing(docs: Path, cache: Path, query: str) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert kb.search(query) == []


def test_a_passage_is_fetched_by_the_id_search_gave(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        (hit,) = kb.search("diesel")
        fetched = kb.passage(hit.id)
        assert kb.passage("buses.txt#99") is None
        assert kb.passage("nope") is None
    assert fetched is not None
    assert fetched == Passage(id=hit.id, document=hit.document, title=hit.title, text=hit.text)
    assert fetched.id == "buses.txt#1"
    assert fetched.text == "Buses run on diesel.\nElectric buses need a big battery."


def test_ids_are_stable_across_reopening(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        before = [p.id for p in kb.search("battery bikes trams diesel", limit=10)]
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        after = [p.id for p in kb.search("battery bikes trams diesel", limit=10)]
        assert kb.indexed_files == 0
    assert before == after
    assert len(before) >= 4


def test_only_changed_files_are_read_again(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert kb.indexed_files == 4
    buses = docs / "buses.txt"
    kept = buses.stat()
    # Same size and mtime, other words: an unchanged file would show them only if read again.
    buses.write_text(BUSES.replace("diesel", "petrol"))
    os.utime(buses, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    (docs / "trams.html").write_text("<title>Trams</title><p>Trams now run on hydrogen.</p>")
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert kb.indexed_files == 1
        assert [p.id for p in kb.search("hydrogen")] == ["trams.html#1"]
        assert kb.search("luggage") == []
        assert [p.id for p in kb.search("diesel")] == ["buses.txt#1"]
        assert kb.search("petrol") == []


def test_a_deleted_file_leaves_the_index(docs: Path, cache: Path) -> None:
    KnowledgeBase.open(docs, cache_dir=cache).close()
    (docs / "reports" / "ebikes.md").unlink()
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert "reports/ebikes.md" not in [d for d, _, _ in kb.documents()]
        assert [p.document for p in kb.search("battery winter")] == ["buses.txt"]
        assert kb.passage("reports/ebikes.md#1") is None


def test_unreadable_files_are_reported_and_the_rest_is_indexed(docs: Path, cache: Path) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        problems = dict(kb.problems)
        assert len(kb.documents()) == 4
        assert kb.search("groceries")[0].document == "cargo.pdf"
    assert set(problems) == {"broken.pdf", "latin1.txt"}
    assert "UnicodeDecodeError" in problems["latin1.txt"]


def test_a_document_over_the_size_cap_is_reported_not_read(
    docs: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (docs / "huge.md").write_text("# Huge\n\n" + "groceries " * 200, encoding="utf-8")
    monkeypatch.setenv("PODIUM_MAX_DOCUMENT_BYTES", "1000")
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        problems = dict(kb.problems)
        assert "huge.md" not in [d for d, _, _ in kb.documents()]
    assert "document huge.md is too large: 2,008 bytes" in problems["huge.md"]
    assert "set PODIUM_MAX_DOCUMENT_BYTES to raise it" in problems["huge.md"]


def test_a_file_that_breaks_is_dropped_from_the_index(docs: Path, cache: Path) -> None:
    KnowledgeBase.open(docs, cache_dir=cache).close()
    (docs / "cargo.pdf").write_bytes(b"%PDF-1.4 truncated")
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert [name for name, _ in kb.problems] == ["cargo.pdf"]
        assert kb.search("groceries") == []


@pytest.mark.parametrize("name", ["missing", "buses.txt"])
def test_a_directory_that_is_not_one_is_a_config_error(docs: Path, cache: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(str(docs / name))):
        KnowledgeBase.open(docs / name, cache_dir=cache)


def test_paragraphs_become_passages_of_a_few_hundred_characters(tmp_path: Path) -> None:
    sentence = "The quick brown fox jumps over the lazy dog number {}. "
    short = "\n\n".join(f"Short paragraph {n} about foxes." for n in range(40))
    long = "".join(sentence.format(n) for n in range(60))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "fox.md").write_text(f"# Foxes\n\n{short}\n\n## Long\n\n{long}\n")
    with KnowledgeBase.open(tmp_path / "docs", cache_dir=tmp_path / "cache") as kb:
        (count,) = [n for _, _, n in kb.documents()]
        texts = [p.text for n in range(1, count + 1) if (p := kb.passage(f"fox.md#{n}"))]
    assert len(texts) == count
    assert texts[0].startswith("Foxes\nShort paragraph 0 about foxes.\nShort paragraph 1")
    assert all(len(text) <= 1200 for text in texts)
    assert sum("Short paragraph" in text for text in texts) < 10  # merged, not one each
    long_parts = texts[next(i for i, t in enumerate(texts) if t.startswith("Long\n")) :]
    assert len(long_parts) > 1
    assert all(text.endswith(".") for text in long_parts)  # cut at sentence ends
    assert " ".join(long_parts).replace("\n", " ") == f"Long {long.strip()}"


def test_an_index_of_another_layout_or_a_damaged_one_is_rebuilt(docs: Path, cache: Path) -> None:
    KnowledgeBase.open(docs, cache_dir=cache).close()
    (index,) = cache.glob("*.sqlite3")
    with sqlite3.connect(index) as connection:
        connection.execute("PRAGMA user_version = 0")
    connection.close()
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert kb.indexed_files == 4
    for suffix in ("-wal", "-shm"):
        index.with_name(index.name + suffix).unlink(missing_ok=True)
    index.write_bytes(b"this is not a database" * 100)
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        assert kb.indexed_files == 4
        assert kb.search("diesel")[0].id == "buses.txt#1"


def test_the_index_goes_to_podium_cache_dir(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "podium-cache"))
    KnowledgeBase.open(docs).close()
    assert len(list((tmp_path / "podium-cache" / "knowledge").glob("*.sqlite3"))) == 1


async def test_the_search_tool_returns_passages_to_cite(docs: Path, cache: Path) -> None:
    with KnowledgeBase.open(docs, cache_dir=cache) as kb:
        search = search_tool(kb)
        found = await search.call({"query": "battery range in winter", "limit": 2})
    assert search.name == "search_docs"
    assert search.description.startswith("Search the team's documents")
    assert search.spec.parameters["required"] == ["query"]
    assert isinstance(found, list)
    assert found[0] == {
        "id": "reports/ebikes.md#2",
        "document": "reports/ebikes.md",
        "title": "E-bikes in cities",
        "text": "Winter\nCold weather cuts the battery range of an e-bike by a third; "
        "riders should store batteries indoors.",
    }
    assert len(found) <= 2
