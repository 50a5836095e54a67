// Package wit carries the WIT contract the SDK is built against, so that the
// build command can embed it into components without a Weir checkout.
// operator.wit is a copy of operators-sdk/wit/operator.wit, kept identical by
// gen-bindings.sh and checked by the SDK's tests.
package wit

import _ "embed"

// Operator is the text of operator.wit, package weir:operator@0.1.0.
//
//go:embed operator.wit
var Operator string

// World is the world every Weir operator component implements.
const World = "operator"
