//! Host bindings of the `weir:operator` contract. The WIT in
//! operators-sdk/wit is the only source; this is the only place that runs
//! `bindgen!` on it, once per world.

wasmtime::component::bindgen!({
    path: "../../operators-sdk/wit",
    world: "operator",
});

/// The `aggregate-function` world: its imports are the operator world's
/// (same host implementations, same linker).
pub mod aggregate {
    wasmtime::component::bindgen!({
        path: "../../operators-sdk/wit",
        world: "aggregate-function",
        with: {
            "weir:operator/types": super::weir::operator::types,
            "weir:operator/log": super::weir::operator::log,
            "weir:operator/metrics": super::weir::operator::metrics,
        },
    });
}
