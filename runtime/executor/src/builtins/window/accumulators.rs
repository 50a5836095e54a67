//! The built-in aggregates of a window and their accumulators.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Function {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Numeric {
    Int,
    Float,
}

pub(super) struct Aggregate {
    pub(super) function: Function,
    pub(super) name: String,
    /// Input column and its type (none for count).
    pub(super) column: Option<(String, Numeric)>,
    pub(super) index: usize,
}

/// The running value of one aggregate in one window.
#[derive(Debug, Clone, Copy)]
pub(super) enum Acc {
    Count(i64),
    Int {
        sum: i64,
        min: i64,
        max: i64,
        n: i64,
    },
    Float {
        sum: f64,
        min: f64,
        max: f64,
        n: i64,
    },
}

impl Acc {
    pub(super) fn merge(self, other: Acc) -> Acc {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => Acc::Count(a + b),
            (Acc::Int { n: 0, .. }, b) | (b, Acc::Int { n: 0, .. }) => b,
            (Acc::Float { n: 0, .. }, b) | (b, Acc::Float { n: 0, .. }) => b,
            (
                Acc::Int { sum, min, max, n },
                Acc::Int {
                    sum: s,
                    min: lo,
                    max: hi,
                    n: m,
                },
            ) => Acc::Int {
                sum: sum.wrapping_add(s),
                min: min.min(lo),
                max: max.max(hi),
                n: n + m,
            },
            (
                Acc::Float { sum, min, max, n },
                Acc::Float {
                    sum: s,
                    min: lo,
                    max: hi,
                    n: m,
                },
            ) => Acc::Float {
                sum: sum + s,
                min: min.min(lo),
                max: max.max(hi),
                n: n + m,
            },
            (a, _) => a,
        }
    }
}
