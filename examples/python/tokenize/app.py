"""The tokenizer of the word-count example, in Python: splits each line of
text into words.

Input: a column `line` (utf8). Output: one record per word, with the single
column `word` (utf8, not null).

A word is a maximal run of letters, digits (`str.isalnum`) and apostrophes
`'`. Leading and trailing apostrophes are trimmed, so quotes do not stick to
words while "weir's" stays one word. Words left empty, and words shorter than
`minLength` characters, are dropped. With `lowercase`, each character is
lowercased on its own (as Rust's `char::to_lowercase` does, so a final capital
sigma becomes σ, not ς) before the length check.

Configuration (all optional): ``{"lowercase": true, "minLength": 1}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from weir_operator import UTF8, Field, InvalidConfig, Schema, per_record

# `[^\W_]` is \w without the underscore: exactly the characters for which
# `str.isalnum()` holds.
WORD = re.compile(r"(?:[^\W_]|')+")


@dataclass
class Config:
    lowercase: bool = True
    min_length: int = 1  # `minLength` in the job spec

    def __post_init__(self) -> None:
        if self.min_length < 0:
            raise InvalidConfig(f"tokenize: minLength must be at least 0, not {self.min_length}")


def lowercase(word: str) -> str:
    if "Σ" in word:
        # `str.lower` picks ς for a sigma that ends a word; per character it is σ.
        return "".join(c.lower() for c in word)
    return word.lower()


def words(text: str, config: Config) -> Iterator[str]:
    """Every word of `text`, following the rule of the module documentation."""
    for run in WORD.findall(text):
        word = run.strip("'")
        if not word:
            continue
        if config.lowercase:
            word = lowercase(word)
        if len(word) < config.min_length:
            continue
        yield word


OUTPUT = Schema([Field("word", UTF8, nullable=False)])


@per_record(output=OUTPUT, config=Config, inputs=["line"])
def tokenize(record: dict, config: Config) -> list[dict] | None:
    line = record["line"]
    if line is None:
        return None
    return [{"word": word} for word in words(line, config)]
