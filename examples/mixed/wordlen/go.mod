module weir.dev/examples/mixed/wordlen

go 1.25

require weir.dev/operator v0.0.0

require go.bytecodealliance.org/pkg v0.2.3 // indirect

// The SDK of this checkout. A project outside the Weir repository points
// this at its own copy of operators-sdk/go.
replace weir.dev/operator => ../../../operators-sdk/go
