//! The tokenizer of the word-count example: splits each line of text into
//! words.
//!
//! Input: a column `line` (utf8). Output: one record per word, with the single
//! column `word` (utf8, not null).
//!
//! A word is a maximal run of characters that are alphanumeric
//! (`char::is_alphanumeric`) or an apostrophe `'`. Leading and trailing
//! apostrophes are trimmed, so quotes do not stick to words while "weir's"
//! stays one word. Words left empty, and words shorter than `minLength`
//! characters, are dropped. With `lowercase`, each character is lowercased
//! (`char::to_lowercase`) before the length check.
//!
//! Configuration (all optional):
//!
//! ```json
//! { "lowercase": true, "minLength": 1 }
//! ```

use serde::Deserialize;
use weir_operator::{
    export, DataType, Error, Field, OpenContext, Operator, Output, Row, Schema, Value,
};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    lowercase: bool,
    min_length: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lowercase: true,
            min_length: 1,
        }
    }
}

struct Tokenize {
    line: usize,
    config: Config,
    /// Reused for lowercased words, so that emitting a word allocates nothing.
    lowered: String,
}

/// Calls `emit` with every word of `text`, following the rule of the crate
/// documentation.
fn for_each_word(
    text: &str,
    config: &Config,
    lowered: &mut String,
    mut emit: impl FnMut(&str) -> Result<(), Error>,
) -> Result<(), Error> {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '\'';
    for run in text.split(|c: char| !is_word_char(c)) {
        let word = run.trim_matches('\'');
        if word.is_empty() {
            continue;
        }
        let word = if config.lowercase {
            lowered.clear();
            lowered.extend(word.chars().flat_map(char::to_lowercase));
            lowered.as_str()
        } else {
            word
        };
        if config.min_length > 1 && word.chars().count() < config.min_length {
            continue;
        }
        emit(word)?;
    }
    Ok(())
}

impl Operator for Tokenize {
    fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
        let config: Config = ctx.config()?;
        let line = ctx.input_schema().index_of("line")?;
        let output = Schema::new(vec![Field::new("word", DataType::Utf8, false)]);
        Ok((
            Tokenize {
                line,
                config,
                lowered: String::new(),
            },
            output,
        ))
    }

    fn process(&mut self, row: &Row<'_>, out: &mut Output) -> Result<(), Error> {
        let Some(text) = row.opt_str(self.line)? else {
            return Ok(());
        };
        for_each_word(text, &self.config, &mut self.lowered, |word| {
            out.emit(&[Value::Utf8(word)])
        })
    }
}

export!(Tokenize);

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str, config: &Config) -> Vec<String> {
        let mut got = Vec::new();
        let mut lowered = String::new();
        for_each_word(text, config, &mut lowered, |w| {
            got.push(w.to_owned());
            Ok(())
        })
        .unwrap();
        got
    }

    #[test]
    fn splits_on_everything_but_letters_digits_and_apostrophes() {
        let config = Config::default();
        assert_eq!(
            words("The weir's 'gate', mill-race & 1890s!", &config),
            ["the", "weir's", "gate", "mill", "race", "1890s"]
        );
        assert_eq!(words(" '' -- ' ", &config), Vec::<String>::new());
    }

    #[test]
    fn keeps_case_and_drops_short_words_when_asked() {
        let config = Config {
            lowercase: false,
            min_length: 3,
        };
        assert_eq!(words("A Weir on the Río", &config), ["Weir", "the", "Río"]);
    }

    #[test]
    fn rejects_unknown_config_fields() {
        let schema = Schema::new(vec![Field::new("line", DataType::Utf8, false)]);
        let ctx =
            OpenContext::new("tokenize", schema).with_config(r#"{"lowercase": true, "minLen": 2}"#);
        let err = Tokenize::open(&ctx).err().unwrap();
        assert_eq!(err.kind(), weir_operator::ErrorKind::InvalidConfig);
        assert!(err.message().contains("minLen"), "{err}");
    }

    /// `expected.txt` was computed by a separate script from the rule above;
    /// the operator must agree with it.
    #[test]
    fn agrees_with_the_expected_counts_of_the_example() {
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        let config = Config::default();
        for line in include_str!("../../input.txt").lines() {
            for word in words(line, &config) {
                *counts.entry(word).or_default() += 1;
            }
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let got: String = counts
            .iter()
            .map(|(word, n)| format!("{word}\t{n}\n"))
            .collect();
        assert_eq!(got, include_str!("../../expected.txt"));
    }

    #[test]
    fn tokenizes_a_batch() {
        let schema = Schema::new(vec![Field::new("line", DataType::Utf8, true)]);
        let ctx = OpenContext::new("tokenize", schema.clone()).with_config("{}");
        let (mut op, out_schema) = Tokenize::open(&ctx).unwrap();
        let values = [
            Value::Utf8("Water, water!"),
            Value::Null,
            Value::Utf8("Weir"),
        ];
        let mut out = Output::new(out_schema);
        op.process_batch(&weir_operator::Rows::new(&values, &schema), &mut out)
            .unwrap();
        let got: Vec<_> = out.decoded().unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|r| match &r[0] {
                weir_operator::OwnedValue::Utf8(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, ["water", "water", "weir"]);
    }
}
