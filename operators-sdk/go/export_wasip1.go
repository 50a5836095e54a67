//go:build wasip1

package operator

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	handler "weir.dev/operator/internal/bindings/export_weir_operator_handler"
	whandler "weir.dev/operator/internal/bindings/weir_operator_handler"
	wtimers "weir.dev/operator/internal/bindings/weir_operator_timers"
	wtypes "weir.dev/operator/internal/bindings/weir_operator_types"
	// The generated export glue: linking it in is what makes the component
	// export the contract's functions.
	_ "weir.dev/operator/internal/bindings/wit_exports"
)

func init() {
	// See gc.go: from here on the collector only runs when component.collect
	// starts it, at the start of a call.
	debug.SetGCPercent(-1)
	handler.Impl = &component{
		pacer: newGCPacer(),
		samples: []metrics.Sample{
			{Name: "/gc/heap/allocs:bytes"},
			{Name: "/gc/heap/live:bytes"},
		},
	}
}

// component is the one operator instance of the component and the glue
// between it and the generated bindings.
type component struct {
	inst    *instance
	pacer   gcPacer
	samples []metrics.Sample
	// returned are the batches the last call returned. The runtime has
	// copied them by the time the next call starts, so that call's output
	// reuses their memory.
	returned [][]byte
}

// collect runs the collector when the pacer says it is due. Called at the
// start of every export, where the collector may call imports.
func (c *component) collect() {
	metrics.Read(c.samples[:1])
	if !c.pacer.due(c.samples[0].Value.Uint64()) {
		return
	}
	runtime.GC()
	metrics.Read(c.samples)
	c.pacer.collected(c.samples[0].Value.Uint64(), c.samples[1].Value.Uint64())
}

func dataTypeFromWit(t wtypes.DataType) DataType {
	// The WIT enum counts from boolean = 0; row tags from boolean = 1.
	return DataType(t + 1)
}

func dataTypeToWit(t DataType) wtypes.DataType {
	return wtypes.DataType(t - 1)
}

func schemaFromWit(s wtypes.Schema) Schema {
	fields := make([]Field, len(s.Fields))
	for i, f := range s.Fields {
		fields[i] = Field{Name: f.Name, Type: dataTypeFromWit(f.DataType), Nullable: f.Nullable}
	}
	return Schema{Fields: fields}
}

func schemaToWit(s Schema) wtypes.Schema {
	fields := make([]wtypes.Field, len(s.Fields))
	for i, f := range s.Fields {
		fields[i] = wtypes.Field{Name: f.Name, DataType: dataTypeToWit(f.Type), Nullable: f.Nullable}
	}
	return wtypes.Schema{Fields: fields}
}

func errorToWit(e *Error) wtypes.OperatorError {
	var kind wtypes.ErrorKind
	switch e.Kind {
	case KindInvalidConfig:
		kind = wtypes.ErrorKindInvalidConfig
	case KindInvalidInput:
		kind = wtypes.ErrorKindInvalidInput
	case KindHost:
		kind = wtypes.ErrorKindHost
	default:
		kind = wtypes.ErrorKindInternal
	}
	return wtypes.OperatorError{Kind: kind, Message: e.Message}
}

// answer is what a call returns, after handing the previous call's batches
// back to the output.
func (c *component) answer(call func() ([][]byte, *Error)) handler.Batches {
	c.collect()
	if c.inst == nil {
		return witTypes.Err[[][]uint8](errorToWit(notOpen))
	}
	c.inst.output.reuse(c.returned)
	batches, err := call()
	c.returned = batches
	if err != nil {
		return witTypes.Err[[][]uint8](errorToWit(err))
	}
	return witTypes.Ok[[][]uint8, wtypes.OperatorError](batches)
}

var notOpen = &Error{Kind: KindInternal, Message: "the operator was called before open succeeded"}

func (c *component) Open(ctx whandler.OpenContext) witTypes.Result[whandler.OpenResult, wtypes.OperatorError] {
	c.collect()
	c.inst, c.returned = nil, nil
	inst, schema, err := openInstance(registered, OpenContext{
		operatorName: ctx.OperatorName,
		config:       ctx.Config,
		inputSchema:  schemaFromWit(ctx.InputSchema),
		keyFields:    ctx.KeyFields,
		subtaskIndex: int(ctx.SubtaskIndex),
		parallelism:  int(ctx.Parallelism),
		attempt:      int(ctx.Attempt),
	})
	if err != nil {
		return witTypes.Err[whandler.OpenResult](errorToWit(err))
	}
	inst.collect = c.collect
	inst.output.closed = c.collect
	c.inst = inst
	return witTypes.Ok[whandler.OpenResult, wtypes.OperatorError](whandler.OpenResult{
		OutputSchema: schemaToWit(schema),
		Encoding:     wtypes.EncodingRows,
	})
}

func (c *component) Process(input []uint8) handler.Batches {
	return c.answer(func() ([][]byte, *Error) { return c.inst.process(input) })
}

func (c *component) OnWatermark(watermark int64) handler.Batches {
	return c.answer(func() ([][]byte, *Error) { return c.inst.onWatermark(watermark) })
}

func (c *component) OnTimer(fired []wtimers.Timer) handler.Batches {
	timers := make([]Timer, len(fired))
	for i, t := range fired {
		timers[i] = Timer{Key: t.Key, Timestamp: t.Timestamp, Domain: TimeDomain(t.Domain)}
	}
	return c.answer(func() ([][]byte, *Error) { return c.inst.onTimer(timers) })
}

func (c *component) Close() handler.Batches {
	return c.answer(func() ([][]byte, *Error) { return c.inst.close() })
}
