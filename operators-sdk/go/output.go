package operator

import (
	"encoding/binary"
	"math"
)

// TargetBatchBytes is the size at which an output batch is closed and the
// next record starts a new one: large enough that per-batch costs vanish,
// small enough to keep guest memory and downstream latency bounded.
const TargetBatchBytes = 1 << 20

// Output is where an operator emits its records during one call.
//
// Every record is checked against the output schema declared at open (number
// of values, types, nulls only where nullable, valid UTF-8): the runtime
// would reject a malformed batch anyway, but only the SDK can say which
// column of which Emit was wrong.
type Output struct {
	schema Schema
	// buf is the batch being written, header included; nil when none is open.
	buf     []byte
	rows    int
	batches [][]byte
	emitted int
	target  int
	// closed, when set, is called after each batch is closed: a point in
	// the middle of a call where a collection may run (see gc.go).
	closed func()
	// spare holds buffers of earlier calls that the runtime has copied
	// already, for new batches to reuse (see reuse).
	spare [][]byte
	// lastLen is the length of the last batch closed: the capacity a new
	// buffer starts with, so that a batch rarely has to grow.
	lastLen int
}

// NewOutput is an output for records of schema. Useful to test operators
// natively; read what was emitted with Records or Batches.
func NewOutput(schema Schema) *Output {
	return &Output{schema: schema, target: TargetBatchBytes}
}

// Schema is the output schema.
func (o *Output) Schema() Schema { return o.schema }

// Emitted is the number of records emitted during the current call (outside
// a runtime: since the last Batches).
func (o *Output) Emitted() int { return o.emitted }

// Emit appends one record: one value per column of the output schema, in
// order. A record that does not match the schema is an internal error naming
// the column, and nothing is appended.
func (o *Output) Emit(values ...Value) error {
	fields := o.schema.Fields
	if len(values) != len(fields) || len(fields) == 0 {
		return o.rejected(values)
	}
	if o.buf == nil {
		o.buf = o.newBuffer()
	}
	// Check and encode in one pass, the hot path of every operator; on a
	// problem, drop the record's bytes and let checkRecord name it.
	buf := o.buf
	mark := len(buf)
	for i := range values {
		v, f := &values[i], &fields[i]
		if v.kind != uint8(f.Type) && (v.kind != tagNull || !f.Nullable) {
			o.buf = buf[:mark]
			return o.rejected(values)
		}
		buf = append(buf, v.kind)
		switch v.kind {
		case uint8(Boolean):
			buf = append(buf, byte(v.bits))
		case uint8(Int64), uint8(Float64), uint8(TimestampMillis):
			buf = binary.LittleEndian.AppendUint64(buf, v.bits)
		case uint8(Utf8), uint8(Binary):
			if (v.kind == uint8(Utf8) && !validUTF8(v.str)) || uint64(len(v.str)) > math.MaxUint32 {
				o.buf = buf[:mark]
				return o.rejected(values)
			}
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(v.str)))
			buf = append(buf, v.str...)
		}
	}
	o.buf = buf
	o.rows++
	o.emitted++
	if len(o.buf) >= o.target || o.rows == math.MaxUint32 {
		o.flush()
	}
	return nil
}

// rejected is the error for a record that does not fit the output schema.
func (o *Output) rejected(values []Value) error {
	if len(o.schema.Fields) == 0 {
		// The row encoding derives the row count from the values, so rows
		// without columns cannot be represented.
		return Internal("cannot emit records: the output schema has no columns")
	}
	err := checkRecord(&o.schema, values)
	if err == nil {
		err = Internal("the record cannot be encoded")
	}
	return Errorf(KindInternal, "emitted a record that does not fit the output schema: %w", err)
}

// newBuffer is an empty batch: a spare buffer if there is one, else a new
// one as large as the last batch.
func (o *Output) newBuffer() []byte {
	if n := len(o.spare); n > 0 {
		buf := o.spare[n-1]
		o.spare[n-1] = nil
		o.spare = o.spare[:n-1]
		return buf[:headerLen]
	}
	return make([]byte, headerLen, max(4096, min(o.lastLen+o.lastLen/8, o.target+o.target/8)))
}

// reuse hands back batches returned by an earlier call, which the runtime
// has finished copying, so that later batches reuse their memory instead of
// allocating. Only the export glue may call it: a caller that still reads
// the batches must not.
func (o *Output) reuse(batches [][]byte) {
	for _, b := range batches {
		if cap(b) >= headerLen && len(o.spare) < 4 {
			o.spare = append(o.spare, b)
		}
	}
}

// EmitUncheckedBatch appends an encoded batch to the call's output as it is,
// without any check. It exists only to test how a runtime copes with
// malformed output; it is not part of the supported API.
func (o *Output) EmitUncheckedBatch(batch []byte) {
	o.flush()
	// A copy: every batch of an Output is its own, to be reused.
	o.batches = append(o.batches, append([]byte(nil), batch...))
}

// flush closes the current batch.
func (o *Output) flush() {
	if o.rows == 0 {
		// Nothing written (or only a rejected record, since dropped): an
		// empty buffer stays for the next record.
		return
	}
	binary.LittleEndian.PutUint32(o.buf[0:], uint32(o.rows))
	binary.LittleEndian.PutUint32(o.buf[4:], uint32(len(o.schema.Fields)))
	o.batches = append(o.batches, o.buf)
	o.lastLen = len(o.buf)
	o.buf = nil
	o.rows = 0
	if o.closed != nil {
		o.closed()
	}
}

// Batches finishes the current batch and hands over every batch emitted so
// far, in order, in the row encoding.
func (o *Output) Batches() [][]byte {
	o.flush()
	out := o.batches
	o.batches = nil
	o.emitted = 0
	return out
}

// discard drops what a failed call emitted: the runtime discards a failed
// call's output, and the next call must not resend it.
func (o *Output) discard() {
	o.buf = nil
	o.rows = 0
	o.batches = nil
	o.emitted = 0
}

// Records decodes every record emitted so far, without taking them: a
// convenience for tests.
func (o *Output) Records() ([][]Value, error) {
	o.flush()
	var rows [][]Value
	for _, b := range o.batches {
		values, n, err := decodeBatch(b, &o.schema, nil)
		if err != nil {
			return nil, err
		}
		rows = append(rows, splitRows(values, n, len(o.schema.Fields))...)
	}
	return rows, nil
}
