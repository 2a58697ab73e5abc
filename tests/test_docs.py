"""The generated docs (docs/operations.md, docs/cli.md) match the code they are generated from."""

from __future__ import annotations

import difflib

import pytest

from clarion import docs
from clarion.operations import registry
from clarion.protocol.model import load


@pytest.mark.parametrize("name", sorted(docs.GENERATED))
def test_generated_doc_is_current(name):
    path = docs.DOCS_DIR / name
    expected = docs.GENERATED[name]()
    actual = path.read_text() if path.exists() else ""
    if actual != expected:
        diff = "".join(list(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True),
                                                 f"docs/{name}", "generated"))[:40])
        pytest.fail(f"docs/{name} is stale: run `make docs` to regenerate it.\n{diff}", pytrace=False)


def test_operations_doc_lists_every_model_operation_once_with_its_state():
    text = docs.operations_markdown()
    model, handlers = load(), registry()
    rows = [line for line in text.splitlines() if line.startswith("| `") and "/v1" in line]
    named = [row.split("`")[1] for row in rows[:len(model.operation_names)]]
    assert sorted(named) == sorted(model.operation_names) and len(named) == 122
    for row, name in zip(rows, named):
        assert row.endswith("| yes |" if name in handlers else "| not yet |")
    assert f"serves **{len(handlers)} of the 122 operations**" in text


def test_every_handler_is_for_an_operation_of_the_model():
    assert set(registry()) <= set(load().operation_names)


def test_cli_doc_covers_every_command():
    text = docs.cli_markdown()
    for command in ("clarion", "clarion serve", "clarion keys", "clarion keys create", "clarion keys list",
                    "clarion keys revoke"):
        assert f"## `{command}`" in text
    assert "--data-dir DIRECTORY" in text


def test_main_writes_the_docs_into_a_directory(tmp_path, capsys):
    assert docs.main([str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == set(docs.GENERATED)
    assert docs.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("up to date") == len(docs.GENERATED)
