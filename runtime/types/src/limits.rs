//! Limits on what a client may hand Weir, checked before the work they bound
//! is done: a job spec's size and nesting (before it is parsed: the YAML
//! parser reads a whole document into memory first), a module's size
//! (before it is read). Each has a default here and a setting of the role
//! that applies it; every refusal names the limit and the setting.

/// The largest job spec, in bytes.
pub const DEFAULT_MAX_SPEC_BYTES: usize = 1 << 20;
/// The deepest nesting of a job spec (mappings and sequences, block or
/// flow): generous for operator configs, far below what could make parsing
/// expensive.
pub const DEFAULT_MAX_SPEC_DEPTH: usize = 32;
/// The largest module (a WASM component): a componentized Python or
/// JavaScript interpreter is 10 to 20 MB.
pub const DEFAULT_MAX_MODULE_BYTES: u64 = 64 << 20;

/// Limits on a job spec's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

impl Default for SpecLimits {
    fn default() -> Self {
        SpecLimits {
            max_bytes: DEFAULT_MAX_SPEC_BYTES,
            max_depth: DEFAULT_MAX_SPEC_DEPTH,
        }
    }
}

/// Why a job spec was refused before parsing. Each names the limit and
/// the setting that raises it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecLimitError {
    #[error(
        "the job spec is {}, more than the limit of {} (maxJobSpecSize)",
        crate::format_bytes(*.bytes as u64),
        crate::format_bytes(*.limit as u64)
    )]
    TooLarge { bytes: usize, limit: usize },
    /// `line` is 1-based; `depth` is the nesting found there.
    #[error(
        "line {line}: the job spec nests {depth} levels deep, more than the limit of {limit} \
         (maxJobSpecDepth)"
    )]
    TooDeep {
        line: usize,
        depth: usize,
        limit: usize,
    },
}

impl SpecLimits {
    /// Why `text` is refused before parsing, if it is: too large, or
    /// nested too deeply. The scan stops at the first line over the limit.
    pub fn check(&self, text: &str) -> Result<(), SpecLimitError> {
        if text.len() > self.max_bytes {
            return Err(SpecLimitError::TooLarge {
                bytes: text.len(),
                limit: self.max_bytes,
            });
        }
        if let Some((line, depth)) = first_line_deeper_than(text, self.max_depth) {
            return Err(SpecLimitError::TooDeep {
                line,
                depth,
                limit: self.max_depth,
            });
        }
        Ok(())
    }
}

/// The first line (1-based) at which the YAML in `text` nests more than
/// `limit` levels, with the depth there.
///
/// The depth is an upper bound of what a parser would build: block
/// nesting by indentation (each deeper indentation, and each `- ` that
/// opens a sequence entry, is one level) plus the flow collections (`[`,
/// `{`) open at that point, outside quotes and comments. It never
/// undercounts, so nothing deeper than the limit reaches the parser.
fn first_line_deeper_than(text: &str, limit: usize) -> Option<(usize, usize)> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (number, line) in text.lines().enumerate() {
        let content = line.trim_start_matches(' ');
        if flow == 0 {
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // "- - x": each dash opens a sequence one level deeper.
            let mut rest = content;
            while let Some(after) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("-\t")) {
                indents.push(indent + (content.len() - after.len()));
                rest = after.trim_start();
            }
        }
        let mut quote: Option<char> = None;
        let mut deepest = flow;
        // What came before: a quote opens a scalar, and `#` a comment, only
        // where a scalar or a token may start. Elsewhere they are text, and
        // brackets after them still count.
        let mut previous = ' ';
        for c in line.chars() {
            let at_start = matches!(previous, ' ' | '\t' | '[' | '{' | ',' | ':' | '-');
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') if at_start => quote = Some(c),
                (None, '#') if matches!(previous, ' ' | '\t') => break,
                (None, '[' | '{') => {
                    flow += 1;
                    deepest = deepest.max(flow);
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
        let depth = indents.len() + deepest;
        if depth > limit {
            return Some((number + 1, depth));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str, limit: usize) -> Option<String> {
        SpecLimits {
            max_bytes: 1 << 20,
            max_depth: limit,
        }
        .check(text)
        .err()
        .map(|e| e.to_string())
    }

    #[test]
    fn ordinary_specs_pass() {
        let spec = "name: j\nsource:\n  type: text\n  path: in.txt\noperators:\n  - name: a\n    \
                    module: a.wasm\n    config: {x: [1, 2, {y: \"[[[[\"}]}\n    keyBy: [k]\n\
                    sink: {type: stdout}\n";
        assert_eq!(depth_error(spec, 8), None);
    }

    #[test]
    fn deep_flow_block_and_dash_nesting_are_refused_with_their_line() {
        let flow = format!("name: j\nconfig: {}1{}\n", "[".repeat(40), "]".repeat(40));
        let err = depth_error(&flow, 32).unwrap();
        assert!(
            err.starts_with("line 2:") && err.contains("maxJobSpecDepth"),
            "{err}"
        );

        let mut block = String::new();
        for level in 0..40 {
            block.push_str(&format!("{}k{level}:\n", " ".repeat(level * 2)));
        }
        assert!(depth_error(&block, 32).unwrap().starts_with("line 33:"));

        let dashes = format!("a:\n{}x\n", "- ".repeat(40));
        assert!(depth_error(&dashes, 32).is_some());
        // A multi-line flow collection counts until it closes.
        let multi = format!("a: {}\n  1\n{}\n", "[".repeat(20), "]".repeat(20));
        assert_eq!(depth_error(&multi, 32), None);
        assert!(depth_error(&multi, 10).is_some());
    }

    #[test]
    fn a_large_spec_is_refused_with_its_size() {
        let limits = SpecLimits {
            max_bytes: 1024,
            max_depth: 32,
        };
        let err = limits.check(&"#".repeat(2000)).unwrap_err().to_string();
        assert!(
            err.contains("2.0 KiB") && err.contains("1.0 KiB") && err.contains("maxJobSpecSize"),
            "{err}"
        );
    }
}
