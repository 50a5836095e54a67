package operator

import (
	"strings"
	"testing"
)

var wordCount = NewSchema(Field{Name: "word", Type: Utf8}, Field{Name: "count", Type: Int64, Nullable: true})

func TestEmitChecksEveryRecordAgainstTheSchema(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []Value
		want   string
	}{
		{"too few values", []Value{Utf8Value("a")}, "a record of 1 values, the schema has 2 columns (`word` (utf8), `count` (int64 or null))"},
		{"wrong type", []Value{Int64Value(1), Int64Value(2)}, "column `word` is int64, the schema says utf8"},
		{"null where not nullable", []Value{Null(), Int64Value(2)}, "column `word` is null, the schema says utf8"},
		{"invalid UTF-8", []Value{Utf8Value("a\xffb"), Null()}, "column `word`: the text is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := NewOutput(wordCount)
			err := out.Emit(tc.values...)
			if KindOf(err) != KindInternal || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v (kind %v), want an internal error containing %q", err, KindOf(err), tc.want)
			}
			if out.Emitted() != 0 || len(out.Batches()) != 0 {
				t.Error("a rejected record was kept")
			}
		})
	}
}

func TestEmitWithoutColumnsIsRefused(t *testing.T) {
	if err := NewOutput(Schema{}).Emit(); err == nil {
		t.Fatal("records without columns cannot be encoded")
	}
}

func TestOutputStartsANewBatchPastTheTarget(t *testing.T) {
	out := NewOutput(wordCount)
	out.target = 64
	for i := 0; i < 20; i++ {
		if err := out.Emit(Utf8Value("abcdefghij"), Int64Value(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	batches := out.Batches()
	if len(batches) < 4 {
		t.Fatalf("%d batches, want the output split at about 64 bytes", len(batches))
	}
	n := 0
	for _, b := range batches {
		rows, err := DecodeBatch(wordCount, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if got, _ := r[1].AsInt64(); got != int64(n) {
				t.Fatalf("record %d has count %d: records out of order", n, got)
			}
			n++
		}
	}
	if n != 20 {
		t.Fatalf("%d records, want 20", n)
	}
	if out.Emitted() != 0 || out.Batches() != nil {
		t.Error("Batches must hand over everything")
	}
}

func TestRecordsDecodesWithoutTaking(t *testing.T) {
	out := NewOutput(wordCount)
	_ = out.Emit(Utf8Value("hi"), Int64Value(3))
	_ = out.Emit(Utf8Value(""), Null())
	rows, err := out.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0].String() != `"hi"` || !rows[1][1].IsNull() {
		t.Fatalf("got %v", rows)
	}
	if got := len(out.Batches()); got != 1 {
		t.Errorf("%d batches left, want 1", got)
	}
}

func TestUtf8BytesValueIsCopiedWhenEmitted(t *testing.T) {
	out := NewOutput(NewSchema(Field{Name: "s", Type: Utf8}))
	buf := []byte("first")
	_ = out.Emit(Utf8BytesValue(buf))
	copy(buf, "xxxxx")
	rows, _ := out.Records()
	if s, _ := rows[0][0].AsUtf8(); s != "first" {
		t.Errorf("got %q", s)
	}
}

func TestReusedBatchesAreOverwrittenNotShared(t *testing.T) {
	out := NewOutput(wordCount)
	_ = out.Emit(Utf8Value("first"), Int64Value(1))
	first := out.Batches()
	out.reuse(first)
	_ = out.Emit(Utf8Value("second"), Int64Value(2))
	second := out.Batches()
	if &first[0][:1][0] != &second[0][:1][0] {
		t.Error("the returned batch's memory was not reused")
	}
	rows, err := DecodeBatch(wordCount, second[0])
	if err != nil || len(rows) != 1 || rows[0][0].String() != `"second"` {
		t.Errorf("got %v, %v", rows, err)
	}
}

func TestUncheckedBatchesAreCopied(t *testing.T) {
	out := NewOutput(wordCount)
	garbage := []byte{1, 0, 0, 0, 1, 0, 0, 0, 99}
	out.EmitUncheckedBatch(garbage)
	out.reuse(out.Batches())
	_ = out.Emit(Utf8Value("x"), Null())
	out.Batches()
	if garbage[8] != 99 {
		t.Error("the caller's bytes were reused as an output buffer")
	}
}
