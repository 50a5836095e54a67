package operator

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Operator processes records one at a time. One instance serves one
// parallel subtask; the runtime never calls it from two goroutines at once.
//
// An operator may also implement BatchProcessor, WatermarkHandler,
// TimerHandler and Closer.
type Operator interface {
	// Process handles one input record, emitting zero or more output
	// records on out.
	Process(rec Record, out *Output) error
}

// BatchProcessor is implemented by operators that handle a whole input batch
// at once: a metric per batch, or one state lookup for all the keys of a
// batch instead of one host call per record. When an operator implements it,
// ProcessBatch replaces the per-record loop that calls Process.
type BatchProcessor interface {
	ProcessBatch(batch *Batch, out *Output) error
}

// WatermarkHandler is implemented by operators that act when event time
// advances: all records at or before watermark (milliseconds since the Unix
// epoch) have arrived, except late ones.
type WatermarkHandler interface {
	OnWatermark(watermark int64, out *Output) error
}

// TimerHandler is implemented by operators that register timers. Timers of
// one call arrive in timestamp order.
type TimerHandler interface {
	OnTimer(timer Timer, out *Output) error
}

// Closer is implemented by operators that hold records until the input ends
// (a bounded source is exhausted, or the job stops with a drain).
type Closer interface {
	Close(out *Output) error
}

// OpenFunc opens one operator instance: it validates the configuration,
// resolves the input columns it needs and declares the output schema. An
// invalid-config error fails the job before any record flows.
type OpenFunc func(ctx OpenContext) (Operator, Schema, error)

var registered OpenFunc

// Register makes open the component's operator. Call it exactly once, from
// an init function of package main:
//
//	func init() { operator.Register(open) }
//
// A component is a library the runtime calls into, not a program, so main
// never runs; init functions run when the runtime instantiates it.
func Register(open OpenFunc) {
	if open == nil {
		panic("operator.Register: the open function is nil")
	}
	if registered != nil {
		panic("operator.Register called twice: a component holds exactly one operator")
	}
	registered = open
}

// TimeDomain says which clock a timer follows.
type TimeDomain uint8

const (
	// EventTime timers fire when the watermark passes their timestamp.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when the TaskManager's clock passes their
	// timestamp.
	ProcessingTime
)

func (d TimeDomain) String() string {
	switch d {
	case EventTime:
		return "event-time"
	case ProcessingTime:
		return "processing-time"
	default:
		return fmt.Sprintf("TimeDomain(%d)", uint8(d))
	}
}

// Timer is a timer for one key (see state.KeyOf) at Timestamp milliseconds
// since the Unix epoch.
type Timer struct {
	Key       []byte
	Timestamp int64
	Domain    TimeDomain
}

// instance is one open operator with its input schema and output buffer: what
// the export glue drives, and what the SDK's own tests drive natively.
type instance struct {
	op          Operator
	inputSchema Schema
	output      *Output
	// values is the decoded batch being processed, kept between calls so
	// that its storage is reused.
	values []Value
	// collect, when set, runs the garbage collector if it is due (see
	// gc.go). The record loop calls it every collectEvery records, so that
	// a large batch does not have to fit in memory with all the garbage its
	// records make.
	collect func()
}

// collectEvery is how many records the per-record loop processes between
// two checks of whether a collection is due.
const collectEvery = 256

// openInstance opens an instance with open, turning errors and panics into
// operator errors.
func openInstance(open OpenFunc, ctx OpenContext) (inst *instance, schema Schema, oerr *Error) {
	if open == nil {
		return nil, Schema{}, &Error{Kind: KindInternal,
			Message: "the component registered no operator: call operator.Register(open) from an init function"}
	}
	defer recoverInto(&oerr, "open")
	op, schema, err := open(ctx)
	if err != nil {
		return nil, Schema{}, asOperatorError(err)
	}
	if op == nil {
		return nil, Schema{}, &Error{Kind: KindInternal, Message: "the open function returned no operator and no error"}
	}
	if err := schema.check(); err != nil {
		return nil, Schema{}, asOperatorError(err)
	}
	return &instance{op: op, inputSchema: ctx.inputSchema, output: NewOutput(schema)}, schema, nil
}

func (in *instance) process(data []byte) ([][]byte, *Error) {
	return in.call("process", func() error {
		values, n, err := decodeBatch(data, &in.inputSchema, in.values)
		// The values are views of this call's input; drop them afterwards so
		// that the batch does not outlive the call.
		defer func() { clear(values); in.values = values[:0] }()
		if err != nil {
			return InvalidInputf("malformed input batch: %v", err)
		}
		batch := Batch{schema: &in.inputSchema, values: values, rows: n}
		if bp, ok := in.op.(BatchProcessor); ok {
			return bp.ProcessBatch(&batch, in.output)
		}
		for i := 0; i < n; i++ {
			if in.collect != nil && i%collectEvery == collectEvery-1 {
				in.collect()
			}
			if err := in.op.Process(batch.Record(i), in.output); err != nil {
				return err
			}
		}
		return nil
	})
}

func (in *instance) onWatermark(watermark int64) ([][]byte, *Error) {
	return in.call("on-watermark", func() error {
		if h, ok := in.op.(WatermarkHandler); ok {
			return h.OnWatermark(watermark, in.output)
		}
		return nil
	})
}

func (in *instance) onTimer(fired []Timer) ([][]byte, *Error) {
	return in.call("on-timer", func() error {
		h, ok := in.op.(TimerHandler)
		if !ok {
			if len(fired) > 0 {
				return Internalf("%d timers fired, but the operator (%T) does not implement operator.TimerHandler", len(fired), in.op)
			}
			return nil
		}
		for _, t := range fired {
			if err := h.OnTimer(t, in.output); err != nil {
				return err
			}
		}
		return nil
	})
}

func (in *instance) close() ([][]byte, *Error) {
	return in.call("close", func() error {
		if c, ok := in.op.(Closer); ok {
			return c.Close(in.output)
		}
		return nil
	})
}

// call runs one call of the operator: its output on success; on an error or
// a panic, the error and nothing of what it emitted.
func (in *instance) call(name string, f func() error) (batches [][]byte, oerr *Error) {
	defer func() {
		if oerr != nil {
			in.output.discard()
			batches = nil
		}
	}()
	defer recoverInto(&oerr, name)
	if err := f(); err != nil {
		return nil, asOperatorError(err)
	}
	return in.output.Batches(), nil
}

// recoverInto turns a panic of operator code into an internal error carrying
// the panic's message and where it happened. The runtime then fails the task
// as for any error, instead of seeing the instance trap.
func recoverInto(oerr **Error, call string) {
	r := recover()
	if r == nil {
		return
	}
	*oerr = &Error{Kind: KindInternal, Message: fmt.Sprintf("panic in %s: %v%s", call, r, panicSite(debug.Stack()))}
}

// panicSite picks the frame that panicked out of a stack trace taken in the
// deferred recover: the first frame after the runtime's panic machinery.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "panic(") {
			// The next function line after panic's own file line is the
			// frame that panicked; runtime helpers (index checks, nil
			// dereferences) come first when the panic is a runtime error.
			for j := i + 2; j+1 < len(lines); j += 2 {
				fn := lines[j]
				if strings.HasPrefix(fn, "runtime.") {
					continue
				}
				file := strings.TrimSpace(lines[j+1])
				if k := strings.LastIndex(file, " +0x"); k >= 0 {
					file = file[:k]
				}
				return " (at " + file + ")"
			}
		}
	}
	return ""
}
