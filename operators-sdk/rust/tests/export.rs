//! `export!` must expand outside the SDK crate, natively too, so that operator
//! crates can run their unit tests with a plain `cargo test`.

use weir_operator::{export, Error, OpenContext, Operator, Output, Row, Schema};

struct PassThrough;

impl Operator for PassThrough {
    fn open(ctx: &OpenContext) -> Result<(Self, Schema), Error> {
        Ok((PassThrough, ctx.input_schema().clone()))
    }

    fn process(&mut self, row: &Row<'_>, out: &mut Output) -> Result<(), Error> {
        out.emit(row.values())
    }
}

export!(PassThrough);

#[test]
fn export_expands() {}
