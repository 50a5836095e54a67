package operator

import (
	"fmt"
	"testing"
)

type passthrough struct{}

func (passthrough) Process(rec Record, out *Output) error { return out.Emit(rec.Values()...) }

// BenchmarkPassthrough decodes, processes and re-encodes batches shaped like
// the generator source's (id, key, value, ts), as a component does per call.
func BenchmarkPassthrough(b *testing.B) {
	schema := NewSchema(
		Field{Name: "id", Type: Int64},
		Field{Name: "key", Type: Utf8},
		Field{Name: "value", Type: Float64},
		Field{Name: "ts", Type: TimestampMillis},
	)
	rows := make([][]Value, 1024)
	for i := range rows {
		rows[i] = []Value{Int64Value(int64(i)), Utf8Value(fmt.Sprintf("key-%d", i%1000)), Float64Value(float64(i%1000) * 0.5), TimestampMillisValue(1700000000000 + int64(i))}
	}
	data, err := EncodeBatch(schema, rows...)
	if err != nil {
		b.Fatal(err)
	}
	inst, _, oerr := openInstance(func(ctx OpenContext) (Operator, Schema, error) { return passthrough{}, ctx.InputSchema(), nil }, NewOpenContext("p", schema))
	if oerr != nil {
		b.Fatal(oerr)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var returned [][]byte
	for i := 0; i < b.N; i++ {
		inst.output.reuse(returned)
		var err *Error
		if returned, err = inst.process(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/record")
}
