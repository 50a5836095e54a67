//! Module distribution.
