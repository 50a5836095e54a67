// Package export_weir_operator_handler is where the generated export glue
// (package wit_exports) calls the component's implementation of the
// `handler` interface. It is the SDK's own code, not generated: it forwards
// each call to the Handler that package operator installs when it
// initializes, which keeps the generated packages free of any dependency on
// the SDK and the SDK free of import cycles.
package export_weir_operator_handler

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"
	"weir.dev/operator/internal/bindings/weir_operator_handler"
	"weir.dev/operator/internal/bindings/weir_operator_timers"
	"weir.dev/operator/internal/bindings/weir_operator_types"
)

// Batches is the result of every call that returns batches.
type Batches = witTypes.Result[[][]uint8, weir_operator_types.OperatorError]

// Handler implements the exported `handler` interface.
type Handler interface {
	Open(context weir_operator_handler.OpenContext) witTypes.Result[weir_operator_handler.OpenResult, weir_operator_types.OperatorError]
	Process(input []uint8) Batches
	OnWatermark(watermark int64) Batches
	OnTimer(fired []weir_operator_timers.Timer) Batches
	Close() Batches
}

// Impl is installed by package operator's init function, which runs before
// the runtime can call any export.
var Impl Handler

func Open(context weir_operator_handler.OpenContext) witTypes.Result[weir_operator_handler.OpenResult, weir_operator_types.OperatorError] {
	return Impl.Open(context)
}

func Process(input []uint8) Batches { return Impl.Process(input) }

func OnWatermark(watermark int64) Batches { return Impl.OnWatermark(watermark) }

func OnTimer(fired []weir_operator_timers.Timer) Batches { return Impl.OnTimer(fired) }

func Close() Batches { return Impl.Close() }
