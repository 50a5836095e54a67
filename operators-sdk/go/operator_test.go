package operator

import (
	"errors"
	"strings"
	"testing"
)

// echo passes records through, and misbehaves on the record whose `word` is
// one of its triggers.
type echo struct {
	calls  int
	closed bool
}

func (e *echo) Process(rec Record, out *Output) error {
	e.calls++
	word, err := rec.Utf8(0)
	if err != nil {
		return err
	}
	switch word {
	case "error":
		return InvalidInputf("cannot take %q", word)
	case "plain":
		return errors.New("something broke")
	case "panic":
		panic("deliberate")
	case "index":
		var s []int
		_ = s[len(word)]
	}
	return out.Emit(rec.Values()...)
}

func (e *echo) Close(out *Output) error {
	e.closed = true
	return out.Emit(Utf8Value("closed"), Int64Value(int64(e.calls)))
}

func openEcho(ctx OpenContext) (Operator, Schema, error) {
	return &echo{}, ctx.InputSchema(), nil
}

func batchOf(t *testing.T, words ...string) []byte {
	t.Helper()
	rows := make([][]Value, len(words))
	for i, w := range words {
		rows[i] = []Value{Utf8Value(w), Int64Value(int64(i))}
	}
	data, err := EncodeBatch(wordCount, rows...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustOpen(t *testing.T, open OpenFunc) *instance {
	t.Helper()
	inst, _, err := openInstance(open, NewOpenContext("echo", wordCount))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func words(t *testing.T, batches [][]byte) []string {
	t.Helper()
	var got []string
	for _, b := range batches {
		rows, err := DecodeBatch(wordCount, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			s, _ := r[0].AsUtf8()
			got = append(got, s)
		}
	}
	return got
}

func TestInstanceProcessesRecordByRecord(t *testing.T) {
	inst := mustOpen(t, openEcho)
	batches, err := inst.process(batchOf(t, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(words(t, batches), ","); got != "a,b,c" {
		t.Errorf("got %s", got)
	}
	batches, err = inst.close()
	if err != nil || strings.Join(words(t, batches), ",") != "closed" {
		t.Errorf("close: %v %v", words(t, batches), err)
	}
}

func TestErrorsKeepTheirKindAndDropTheCallsOutput(t *testing.T) {
	for _, tc := range []struct {
		trigger string
		kind    ErrorKind
		msg     string
	}{
		{"error", KindInvalidInput, `cannot take "error"`},
		{"plain", KindInternal, "something broke"},
		{"panic", KindInternal, "panic in process: deliberate (at "},
		{"index", KindInternal, "panic in process: runtime error: index out of range [5] with length 0 (at "},
	} {
		t.Run(tc.trigger, func(t *testing.T) {
			inst := mustOpen(t, openEcho)
			batches, err := inst.process(batchOf(t, "before", tc.trigger, "after"))
			if err == nil {
				t.Fatalf("no error, output %v", words(t, batches))
			}
			if err.Kind != tc.kind || !strings.Contains(err.Message, tc.msg) {
				t.Errorf("got %v %q, want %v containing %q", err.Kind, err.Message, tc.kind, tc.msg)
			}
			if strings.HasPrefix(tc.msg, "panic") && !strings.Contains(err.Message, "operator_test.go:") {
				t.Errorf("the panic's site is missing: %q", err.Message)
			}
			// What the failed call emitted ("before") is gone; the next call
			// starts afresh.
			batches, err = inst.process(batchOf(t, "next"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(words(t, batches), ","); got != "next" {
				t.Errorf("after a failed call got %s", got)
			}
		})
	}
}

type batchWise struct{ echo }

func (b *batchWise) ProcessBatch(batch *Batch, out *Output) error {
	// One record per batch: its size and the first word.
	first, _ := batch.Record(0).Utf8(0)
	return out.Emit(Utf8Value(first), Int64Value(int64(batch.Len())))
}

func TestABatchProcessorReplacesTheRecordLoop(t *testing.T) {
	inst := mustOpen(t, func(ctx OpenContext) (Operator, Schema, error) { return &batchWise{}, ctx.InputSchema(), nil })
	batches, err := inst.process(batchOf(t, "x", "panic", "error"))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := DecodeBatch(wordCount, batches[0])
	if len(rows) != 1 || rows[0][0].String() != `"x"` || rows[0][1].String() != "3" {
		t.Errorf("got %v", rows)
	}
}

func TestMalformedInputIsAnInvalidInputError(t *testing.T) {
	inst := mustOpen(t, openEcho)
	_, err := inst.process([]byte{1, 0, 0, 0, 2, 0, 0, 0, 9})
	if err == nil || err.Kind != KindInvalidInput || err.Message != "malformed input batch: unknown value tag 9 (byte 8, row 0, column 0)" {
		t.Errorf("got %+v", err)
	}
}

func TestOpenFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		open OpenFunc
		kind ErrorKind
		msg  string
	}{
		{"nothing registered", nil, KindInternal, "registered no operator"},
		{"error", func(OpenContext) (Operator, Schema, error) { return nil, Schema{}, InvalidConfig("no") }, KindInvalidConfig, "no"},
		{"panic", func(OpenContext) (Operator, Schema, error) { panic("at open") }, KindInternal, "panic in open: at open"},
		{"nil operator", func(OpenContext) (Operator, Schema, error) { return nil, Schema{}, nil }, KindInternal, "no operator and no error"},
		{"duplicate columns", func(ctx OpenContext) (Operator, Schema, error) {
			return &echo{}, NewSchema(Field{Name: "a", Type: Int64}, Field{Name: "a", Type: Utf8}), nil
		}, KindInternal, "two columns named `a`"},
		{"invalid type", func(ctx OpenContext) (Operator, Schema, error) {
			return &echo{}, NewSchema(Field{Name: "a"}), nil
		}, KindInternal, "column `a` has no valid type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := openInstance(tc.open, NewOpenContext("x", wordCount))
			if err == nil || err.Kind != tc.kind || !strings.Contains(err.Message, tc.msg) {
				t.Errorf("got %+v, want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

type timed struct {
	echo
	fired []Timer
	wm    int64
}

func (o *timed) OnTimer(t Timer, out *Output) error {
	o.fired = append(o.fired, t)
	return nil
}

func (o *timed) OnWatermark(wm int64, out *Output) error {
	o.wm = wm
	return out.Emit(Utf8Value("wm"), Int64Value(wm))
}

func TestTimersAndWatermarks(t *testing.T) {
	op := &timed{}
	inst := mustOpen(t, func(ctx OpenContext) (Operator, Schema, error) { return op, ctx.InputSchema(), nil })
	if _, err := inst.onTimer([]Timer{{Key: []byte{1}, Timestamp: 5}, {Key: []byte{2}, Timestamp: 6, Domain: ProcessingTime}}); err != nil {
		t.Fatal(err)
	}
	if len(op.fired) != 2 || op.fired[1].Domain != ProcessingTime {
		t.Errorf("fired %v", op.fired)
	}
	batches, err := inst.onWatermark(42)
	if err != nil || op.wm != 42 || strings.Join(words(t, batches), ",") != "wm" {
		t.Errorf("watermark: %v %v %d", words(t, batches), err, op.wm)
	}

	// An operator without OnTimer cannot have registered timers: a timer
	// firing anyway is a bug worth reporting. Watermarks are just ignored.
	plain := mustOpen(t, openEcho)
	if _, err := plain.onTimer([]Timer{{Timestamp: 1}}); err == nil || !strings.Contains(err.Message, "does not implement operator.TimerHandler") {
		t.Errorf("got %+v", err)
	}
	if b, err := plain.onWatermark(1); err != nil || len(b) != 0 {
		t.Errorf("got %v %+v", b, err)
	}
}

func TestRegisterOnce(t *testing.T) {
	defer func() { registered = nil }()
	Register(openEcho)
	defer func() {
		if recover() == nil {
			t.Error("a second Register must panic")
		}
	}()
	Register(openEcho)
}

func TestRecordAccessors(t *testing.T) {
	schema := NewSchema(
		Field{Name: "b", Type: Boolean, Nullable: true},
		Field{Name: "i", Type: Int64},
		Field{Name: "f", Type: Float64, Nullable: true},
		Field{Name: "s", Type: Utf8, Nullable: true},
		Field{Name: "bin", Type: Binary},
		Field{Name: "ts", Type: TimestampMillis},
	)
	rec := NewRecord(schema, Null(), Int64Value(-7), Float64Value(2.5), Utf8Value("x"), BinaryValue([]byte{1, 2}), TimestampMillisValue(9))
	if _, ok, err := rec.OptBool(0); ok || err != nil {
		t.Errorf("OptBool of null: %v %v", ok, err)
	}
	if _, err := rec.Bool(0); KindOf(err) != KindInvalidInput || err.Error() != "column `b`: expected boolean (not null), found null" {
		t.Errorf("Bool of null: %v", err)
	}
	if i, err := rec.Int64(1); i != -7 || err != nil {
		t.Errorf("Int64: %d %v", i, err)
	}
	if f, ok, err := rec.OptFloat64(2); f != 2.5 || !ok || err != nil {
		t.Errorf("OptFloat64: %v %v %v", f, ok, err)
	}
	if s, err := rec.Utf8(3); s != "x" || err != nil {
		t.Errorf("Utf8: %q %v", s, err)
	}
	if b, err := rec.Binary(4); len(b) != 2 || b[1] != 2 || err != nil {
		t.Errorf("Binary: %v %v", b, err)
	}
	if ts, err := rec.TimestampMillis(5); ts != 9 || err != nil {
		t.Errorf("TimestampMillis: %d %v", ts, err)
	}
	if _, err := rec.Utf8(1); KindOf(err) != KindInvalidInput || err.Error() != "column `i`: expected utf8, found int64" {
		t.Errorf("type mismatch: %v", err)
	}
	if _, err := rec.Int64(6); KindOf(err) != KindInternal || !strings.Contains(err.Error(), "column index 6 is out of range") {
		t.Errorf("out of range: %v", err)
	}
	if got := rec.String(); got != `{b: null, i: -7, f: 2.5, s: "x", bin: x'0102', ts: 9ms}` {
		t.Errorf("String: %s", got)
	}
}

func TestBatchIteration(t *testing.T) {
	batch, err := NewBatch(wordCount, []Value{Utf8Value("a"), Null()}, []Value{Utf8Value("b"), Int64Value(2)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, rec := range batch.All() {
		s, _ := rec.Utf8(0)
		got = append(got, s)
		if i == 0 && !rec.IsNull(1) {
			t.Error("row 0 column 1 should be null")
		}
	}
	if strings.Join(got, "") != "ab" || batch.Len() != 2 {
		t.Errorf("got %v", got)
	}
	if _, err := NewBatch(wordCount, []Value{Null(), Null()}); err == nil || !strings.Contains(err.Error(), "row 0: column `word` is null") {
		t.Errorf("got %v", err)
	}
}
