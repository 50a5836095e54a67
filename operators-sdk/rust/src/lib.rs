//! Write [Weir](https://github.com/weir-streaming/weir) stream operators in
//! Rust.
//!
//! A Weir operator is a WebAssembly component that the runtime calls once per
//! batch of records. This crate hides the component plumbing: you implement
//! [`Operator`] with a method per record (or per batch), call [`export!`],
//! and build the crate for `wasm32-wasip2`.
//!
//! ```no_run
//! use weir_operator::{export, DataType, Error, Field, OpenContext, Operator, Output, Row, Schema, Value};
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config { lowercase: bool }
//!
//! struct Tokenize { line: usize, lowercase: bool }
//!
//! impl Operator for Tokenize {
//!     fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
//!         let config: Config = ctx.config()?;                 // invalid-config error naming the problem
//!         let line = ctx.input_schema().index_of("line")?;     // Error if missing, naming the field and listing available ones
//!         Ok((Tokenize { line, lowercase: config.lowercase },
//!             Schema::new(vec![Field::new("word", DataType::Utf8, false)])))
//!     }
//!     fn process(&mut self, row: &Row<'_>, out: &mut Output) -> Result<(), Error> {
//!         let line = row.str(self.line)?;
//!         for word in line.split_whitespace() {
//!             if self.lowercase {
//!                 out.emit(&[Value::Utf8(&word.to_lowercase())])?;
//!             } else {
//!                 out.emit(&[Value::Utf8(word)])?;
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//! export!(Tokenize);
//! # fn main() {}
//! ```
//!
//! # How a call flows
//!
//! The runtime calls [`Operator::open`] once per instance (one instance per
//! parallel subtask) with the job's configuration and the input schema; the
//! operator answers with its output schema. Then each input batch becomes one
//! call of [`Operator::process_batch`], which by default calls
//! [`Operator::process`] for every record. Records emitted on the [`Output`]
//! are checked against the output schema and encoded into batches that the
//! runtime receives when the call returns. Watermarks, timers and the end of
//! the input arrive through [`Operator::on_watermark`],
//! [`Operator::on_timer`] and [`Operator::close`].
//!
//! Batches cross the component boundary as bytes in Weir's `rows` encoding
//! (see [`weir_row_codec`]); the runtime converts them from and to Arrow.
//! With the `arrow` feature, `ArrowOperator` works on Arrow record batches
//! directly instead.
//!
//! # Errors and panics
//!
//! Expected failures are [`Error`] values; their [`ErrorKind`] tells the
//! runtime whether restarting can help. A panic aborts the instance (a trap):
//! the runtime reports it with the guest's stderr and applies the job's
//! restart strategy.
//!
//! # Testing natively
//!
//! The crate also builds for the host target, so an operator can be unit
//! tested with `cargo test`: build an [`OpenContext`] with
//! [`OpenContext::new`], feed [`Rows::new`] to `process_batch`, and read the
//! [`Output`] back with [`Output::decoded`]. Outside a Weir runtime logs go to
//! stderr, metrics are dropped, and state and timers report themselves
//! unavailable.

#![warn(missing_debug_implementations)]

mod context;
mod error;
mod output;
mod row;
mod schema;
mod sys;

pub mod log;
pub mod metrics;
pub mod state;
pub mod timers;

#[cfg(feature = "arrow")]
pub mod arrow;

#[cfg(test)]
mod tests;

#[doc(hidden)]
#[path = "glue.rs"]
pub mod __private;

pub use context::OpenContext;
pub use error::{Error, ErrorKind, Result};
pub use output::{Output, OwnedValue, TARGET_BATCH_BYTES};
pub use row::{Row, Rows, RowsIter};
pub use schema::{DataType, Field, Schema};
pub use timers::{TimeDomain, Timer};
pub use weir_row_codec;
/// One value of a record, borrowing text and bytes from its batch.
pub use weir_row_codec::Value;

/// A stream operator: what a Weir component runs.
///
/// One instance serves one parallel subtask; the runtime never calls it from
/// two threads at once. The instance lives in the component's memory, which is
/// never snapshotted: anything that must survive a failure belongs in
/// [`state`].
pub trait Operator: Sized + 'static {
    /// Called once, before anything else: validate the configuration, resolve
    /// input columns and declare the output schema. An `invalid-config` error
    /// fails the job before any record flows.
    fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error>;

    /// Processes one input record, emitting zero or more output records.
    fn process(&mut self, row: &Row<'_>, out: &mut Output) -> Result<(), Error>;

    /// Processes one input batch. The default calls [`process`](Self::process)
    /// for every record; override it for logic that looks at a whole batch
    /// (per-batch metrics, one batched state call instead of one per record).
    fn process_batch(&mut self, rows: &Rows<'_>, out: &mut Output) -> Result<(), Error> {
        for row in rows {
            self.process(&row, out)?;
        }
        Ok(())
    }

    /// The event-time watermark has advanced to `watermark` (milliseconds
    /// since the Unix epoch): all records at or before it have arrived, except
    /// late ones.
    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<(), Error> {
        let _ = (watermark, out);
        Ok(())
    }

    /// A timer registered with [`timers::register`] is due. Timers of one call
    /// arrive in timestamp order.
    fn on_timer(&mut self, timer: &Timer, out: &mut Output) -> Result<(), Error> {
        let _ = (timer, out);
        Ok(())
    }

    /// The input has ended: emit what the operator still holds.
    fn close(&mut self, out: &mut Output) -> Result<(), Error> {
        let _ = out;
        Ok(())
    }
}

/// Exports an [`Operator`] as the component's implementation of the Weir
/// contract. Use it once per crate, at the top level:
///
/// ```ignore
/// weir_operator::export!(MyOperator);
/// ```
#[macro_export]
macro_rules! export {
    ($operator:ty) => {
        $crate::__export_slot!($crate::__private::Slot<$operator>);
    };
}

/// Exports an [`arrow::ArrowOperator`] as the component's implementation of
/// the Weir contract, with the `arrow-ipc` encoding. Use it once per crate,
/// at the top level, instead of [`export!`].
#[cfg(feature = "arrow")]
#[macro_export]
macro_rules! export_arrow {
    ($operator:ty) => {
        $crate::__export_slot!($crate::arrow::ArrowSlot<$operator>);
    };
}

/// The expansion shared by [`export!`] and `export_arrow!`: a slot type with
/// the five calls of the contract, and wit-bindgen's export glue over it.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_slot {
    ($slot:ty) => {
        const _: () = {
            struct __WeirExport;

            ::std::thread_local! {
                static __WEIR_SLOT: $slot = const { <$slot>::new() };
            }

            impl $crate::__private::Guest for __WeirExport {
                fn open(
                    context: $crate::__private::WitOpenContext,
                ) -> $crate::__private::WitResult<$crate::__private::OpenResult> {
                    __WEIR_SLOT.with(|slot| slot.open(context))
                }

                fn process(
                    input: ::std::vec::Vec<u8>,
                ) -> $crate::__private::WitResult<::std::vec::Vec<::std::vec::Vec<u8>>> {
                    __WEIR_SLOT.with(|slot| slot.process(input))
                }

                fn on_watermark(
                    watermark: i64,
                ) -> $crate::__private::WitResult<::std::vec::Vec<::std::vec::Vec<u8>>> {
                    __WEIR_SLOT.with(|slot| slot.on_watermark(watermark))
                }

                fn on_timer(
                    fired: ::std::vec::Vec<$crate::__private::Timer>,
                ) -> $crate::__private::WitResult<::std::vec::Vec<::std::vec::Vec<u8>>> {
                    __WEIR_SLOT.with(|slot| slot.on_timer(fired))
                }

                fn close() -> $crate::__private::WitResult<::std::vec::Vec<::std::vec::Vec<u8>>> {
                    __WEIR_SLOT.with(|slot| slot.close())
                }
            }

            $crate::__private::bindings::__weir_bindgen_export!(
                __WeirExport with_types_in $crate::__private::bindings
            );
        };
    };
}
