"""The benchmarks' BENCHMARKS.md writer: a rewritten table keeps the prose written by hand below it."""

from __future__ import annotations

from benchmarks.bench_md import KEEP, write_section


def test_a_rewritten_section_keeps_what_follows_the_keep_line_and_the_other_sections(tmp_path):
    md = tmp_path / "B.md"
    md.write_text(
        f"# Benchmarks\n\n## A\n\nold table\n\n{KEEP}\nwhat a person sees\n\n## B\n\nb's table\n\n## C\n\nc\n"
    )
    write_section("## A", "## A\n\nnew table\n", md)
    write_section("## B", "## B\n\nb's new table\n", md)
    write_section("## D", "## D\n\nd\n", md)
    assert md.read_text() == (
        f"# Benchmarks\n\n## A\n\nnew table\n\n{KEEP}\nwhat a person sees\n\n## B\n\nb's new table\n\n## C\n\nc\n"
        "\n## D\n\nd\n"
    )
