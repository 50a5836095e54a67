"""Unit tests of the tokenizer, in plain CPython:
`python -m pytest examples/python` (with the SDK installed, as
scripts/setup-python.sh does)."""

from collections import Counter
from pathlib import Path

import pytest
from app import Config, tokenize, words
from weir_operator import UTF8, Field, InvalidConfig, Schema
from weir_operator.testing import Harness

HERE = Path(__file__).resolve().parent
WORDCOUNT = HERE.parents[1] / "wordcount"
LINES = Schema([Field("line", UTF8)])


def test_splits_on_everything_but_letters_digits_and_apostrophes():
    config = Config()
    assert list(words("The weir's 'gate', mill-race & 1890s!", config)) == [
        "the",
        "weir's",
        "gate",
        "mill",
        "race",
        "1890s",
    ]
    assert list(words(" '' -- ' ", config)) == []
    assert list(words("snake_case", config)) == ["snake", "case"]


def test_keeps_case_and_drops_short_words_when_asked():
    config = Config(lowercase=False, min_length=3)
    assert list(words("A Weir on the Río", config)) == ["Weir", "the", "Río"]


def test_lowercases_each_character_on_its_own():
    assert list(words("ΟΔΟΣ", Config())) == ["οδοσ"]


def test_rejects_unknown_and_invalid_config():
    with pytest.raises(InvalidConfig, match="minLen"):
        Harness(tokenize, LINES, config={"lowercase": True, "minLen": 2})
    with pytest.raises(InvalidConfig, match="minLength must be at least 0"):
        Harness(tokenize, LINES, config={"minLength": -1})


def test_tokenizes_a_batch():
    h = Harness(tokenize, LINES)
    assert h.process([("Water, water!",), (None,), ("Weir",)]) == [
        ("water",),
        ("water",),
        ("weir",),
    ]


def test_agrees_with_the_expected_counts_of_the_example():
    """expected.txt was computed by a separate script from the same rule."""
    counts = Counter()
    h = Harness(tokenize, LINES)
    lines = (WORDCOUNT / "input.txt").read_text(encoding="utf-8").splitlines()
    for (word,) in h.process([(line,) for line in lines]):
        counts[word] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    got = "".join(f"{w}\t{n}\n" for w, n in ranked)
    assert got == (WORDCOUNT / "expected.txt").read_text(encoding="utf-8")
