//! Host bindings of the `weir:operator` contract. The WIT in
//! operators-sdk/wit is the only source; this is the only `bindgen!` on it.

wasmtime::component::bindgen!({
    path: "../../operators-sdk/wit",
    world: "operator",
});
