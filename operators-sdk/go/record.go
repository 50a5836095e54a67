package operator

import (
	"iter"
	"strings"
)

// Record is one input record: its values in schema order, with typed
// accessors.
//
// Accessors take a column index, which Schema.IndexOf resolves once in the
// open function. Asking for another type than the column's, or for a
// non-null value where there is a null, is an invalid-input error naming the
// column. An index out of range is an internal error.
type Record struct {
	values []Value
	schema *Schema
}

// NewRecord is a record of schema over values (one per column). Useful to
// test operators natively.
func NewRecord(schema Schema, values ...Value) Record {
	return Record{values: values, schema: &schema}
}

// Len is the number of values (the input schema's number of columns).
func (r Record) Len() int { return len(r.values) }

// Values are all the values, in schema order. `out.Emit(rec.Values()...)`
// passes a record through unchanged when the schemas are equal. The slice
// belongs to the batch: do not modify it.
func (r Record) Values() []Value { return r.values }

// Schema is the input schema.
func (r Record) Schema() Schema { return *r.schema }

// Value is the value of column, whatever its type.
func (r Record) Value(column int) (Value, error) {
	if column < 0 || column >= len(r.values) {
		return Value{}, Internalf("column index %d is out of range: the input has %d columns (%s)",
			column, len(r.values), r.schema.columnList())
	}
	return r.values[column], nil
}

// IsNull tells whether the value of column is null (false for an index out
// of range).
func (r Record) IsNull(column int) bool {
	return column >= 0 && column < len(r.values) && r.values[column].kind == tagNull
}

// typed is the value of column, which must be of type t; ok is false for a
// null.
func (r Record) typed(column int, t DataType, nullable bool) (v Value, ok bool, err error) {
	v, err = r.Value(column)
	if err != nil {
		return Value{}, false, err
	}
	if v.kind == uint8(t) {
		return v, true, nil
	}
	if v.kind == tagNull && nullable {
		return v, false, nil
	}
	expected := t.String()
	if !nullable && v.kind == tagNull {
		expected += " (not null)"
	}
	return Value{}, false, InvalidInputf("column `%s`: expected %s, found %s", r.schema.columnName(column), expected, v.typeName())
}

// Bool is the value of a boolean column; a null is an error.
func (r Record) Bool(column int) (bool, error) {
	v, _, err := r.typed(column, Boolean, false)
	return v.bits != 0, err
}

// OptBool is the value of a boolean column; ok is false for a null.
func (r Record) OptBool(column int) (value, ok bool, err error) {
	v, ok, err := r.typed(column, Boolean, true)
	return v.bits != 0, ok, err
}

// Int64 is the value of an int64 column; a null is an error.
func (r Record) Int64(column int) (int64, error) {
	v, _, err := r.typed(column, Int64, false)
	return int64(v.bits), err
}

// OptInt64 is the value of an int64 column; ok is false for a null.
func (r Record) OptInt64(column int) (value int64, ok bool, err error) {
	v, ok, err := r.typed(column, Int64, true)
	return int64(v.bits), ok, err
}

// Float64 is the value of a float64 column; a null is an error.
func (r Record) Float64(column int) (float64, error) {
	v, _, err := r.typed(column, Float64, false)
	f, _ := v.AsFloat64()
	return f, err
}

// OptFloat64 is the value of a float64 column; ok is false for a null.
func (r Record) OptFloat64(column int) (value float64, ok bool, err error) {
	v, ok, err := r.typed(column, Float64, true)
	f, _ := v.AsFloat64()
	return f, ok, err
}

// Utf8 is the text of a utf8 column; a null is an error. The string is a
// view of the input batch (see Value).
func (r Record) Utf8(column int) (string, error) {
	v, _, err := r.typed(column, Utf8, false)
	return v.str, err
}

// OptUtf8 is the text of a utf8 column; ok is false for a null.
func (r Record) OptUtf8(column int) (value string, ok bool, err error) {
	v, ok, err := r.typed(column, Utf8, true)
	return v.str, ok, err
}

// Binary is the bytes of a binary column; a null is an error. The bytes are
// part of the input batch: do not modify them.
func (r Record) Binary(column int) ([]byte, error) {
	v, ok, err := r.typed(column, Binary, false)
	if !ok {
		return nil, err
	}
	b, _ := v.AsBinary()
	return b, nil
}

// OptBinary is the bytes of a binary column; ok is false for a null.
func (r Record) OptBinary(column int) (value []byte, ok bool, err error) {
	v, ok, err := r.typed(column, Binary, true)
	if !ok {
		return nil, false, err
	}
	b, _ := v.AsBinary()
	return b, true, nil
}

// TimestampMillis is the value of a timestamp-millis column (milliseconds
// since the Unix epoch); a null is an error.
func (r Record) TimestampMillis(column int) (int64, error) {
	v, _, err := r.typed(column, TimestampMillis, false)
	return int64(v.bits), err
}

// OptTimestampMillis is the value of a timestamp-millis column; ok is false
// for a null.
func (r Record) OptTimestampMillis(column int) (value int64, ok bool, err error) {
	v, ok, err := r.typed(column, TimestampMillis, true)
	return int64(v.bits), ok, err
}

// String formats the record as {name: value, ...}, for messages and tests.
func (r Record) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range r.values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.schema.columnName(i))
		b.WriteString(": ")
		b.WriteString(v.String())
	}
	b.WriteByte('}')
	return b.String()
}

// Batch is the records of one input batch, in order.
type Batch struct {
	schema *Schema
	// values holds rows*len(schema.Fields) values, row after row.
	values []Value
	rows   int
}

// NewBatch is a batch of schema holding rows, checked against the schema.
// Useful to test operators natively.
func NewBatch(schema Schema, rows ...[]Value) (*Batch, error) {
	values := make([]Value, 0, len(rows)*len(schema.Fields))
	for i, row := range rows {
		if err := checkRecord(&schema, row); err != nil {
			return nil, Errorf(KindOf(err), "row %d: %w", i, err)
		}
		values = append(values, row...)
	}
	return &Batch{schema: &schema, values: values, rows: len(rows)}, nil
}

// Len is the number of records.
func (b *Batch) Len() int { return b.rows }

// Schema is the input schema.
func (b *Batch) Schema() Schema { return *b.schema }

// Record is the record at index, which must be in [0, Len()).
func (b *Batch) Record(index int) Record {
	if index < 0 || index >= b.rows {
		panic("operator: record index out of range")
	}
	n := len(b.schema.Fields)
	return Record{values: b.values[index*n : (index+1)*n : (index+1)*n], schema: b.schema}
}

// All iterates over the records with their indexes:
//
//	for i, rec := range batch.All() { ... }
func (b *Batch) All() iter.Seq2[int, Record] {
	return func(yield func(int, Record) bool) {
		for i := 0; i < b.rows; i++ {
			if !yield(i, b.Record(i)) {
				return
			}
		}
	}
}
