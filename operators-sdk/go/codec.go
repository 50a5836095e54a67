package operator

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
	"unsafe"
)

// The row encoding (the `encoding` comment of operator.wit is normative):
//
//	batch := row-count: u32, column-count: u32, value{row-count * column-count}
//	value := tag: u8, payload
//
// all integers little-endian, values row by row, columns in schema order.

const headerLen = 8

// DecodeError says why and where a batch in the row encoding is malformed.
type DecodeError struct {
	// Offset is the byte offset in the batch where the problem starts.
	Offset int
	// Row and Column locate the value being read; -1 outside a value.
	Row, Column int
	reason      string
}

func (e *DecodeError) Error() string {
	if e.Row < 0 {
		return fmt.Sprintf("%s (byte %d)", e.reason, e.Offset)
	}
	return fmt.Sprintf("%s (byte %d, row %d, column %d)", e.reason, e.Offset, e.Row, e.Column)
}

// decodeBatch decodes a batch of schema into values (reusing its storage),
// row after row, checking every value against its column. It returns the
// values and the number of rows.
//
// It is the hot loop of every call, hence written flat: one pass over the
// bytes, the checks inline, errors built out of line.
func decodeBatch(data []byte, schema *Schema, values []Value) ([]Value, int, error) {
	values = values[:0]
	if len(data) < headerLen {
		return values, 0, &DecodeError{Offset: 0, Row: -1, Column: -1, reason: "batch shorter than its 8-byte header"}
	}
	rows := int(binary.LittleEndian.Uint32(data[0:]))
	columns := binary.LittleEndian.Uint32(data[4:])
	fields := schema.Fields
	if uint64(columns) != uint64(len(fields)) {
		return values, 0, &DecodeError{Offset: 4, Row: -1, Column: -1,
			reason: fmt.Sprintf("batch has %d columns, the schema has %d", columns, len(fields))}
	}
	total := rows * len(fields)
	// The header's row count is untrusted: every value takes at least one
	// byte, so the data length bounds what is worth reserving.
	if want := min(total, len(data)-headerLen); cap(values) < want {
		values = make([]Value, 0, want)
	}
	pos := headerLen
	column := 0
	for i := 0; i < total; i++ {
		start := pos
		if pos >= len(data) {
			return values, 0, decodeFailure(start, i, len(fields), "batch ends inside a value")
		}
		tag := data[pos]
		pos++
		v := Value{kind: tag}
		switch tag {
		case tagNull:
		case uint8(Boolean):
			if pos >= len(data) {
				return values, 0, decodeFailure(start, i, len(fields), "batch ends inside a value")
			}
			b := data[pos]
			if b > 1 {
				return values, 0, decodeFailure(start, i, len(fields), fmt.Sprintf("boolean byte %d is neither 0 nor 1", b))
			}
			pos++
			v.bits = uint64(b)
		case uint8(Int64), uint8(Float64), uint8(TimestampMillis):
			if len(data)-pos < 8 {
				return values, 0, decodeFailure(start, i, len(fields), "batch ends inside a value")
			}
			v.bits = binary.LittleEndian.Uint64(data[pos:])
			pos += 8
		case uint8(Utf8), uint8(Binary):
			if len(data)-pos < 4 {
				return values, 0, decodeFailure(start, i, len(fields), "batch ends inside a value")
			}
			n := int(binary.LittleEndian.Uint32(data[pos:]))
			pos += 4
			if n > len(data)-pos {
				return values, 0, decodeFailure(start, i, len(fields), "batch ends inside a value")
			}
			if n > 0 {
				// A view, not a copy: the batch is never modified.
				v.str = unsafe.String(&data[pos], n)
			}
			pos += n
			if tag == uint8(Utf8) && !validUTF8(v.str) {
				return values, 0, decodeFailure(start, i, len(fields), "utf8 value is not valid UTF-8")
			}
		default:
			return values, 0, decodeFailure(start, i, len(fields), fmt.Sprintf("unknown value tag %d", tag))
		}
		f := &fields[column]
		if tag != uint8(f.Type) && (tag != tagNull || !f.Nullable) {
			return values, 0, decodeFailure(start, i, len(fields),
				fmt.Sprintf("column `%s`: expected %s, found %s", f.Name, f.describe(), v.typeName()))
		}
		values = append(values, v)
		column++
		if column == len(fields) {
			column = 0
		}
	}
	if pos != len(data) {
		return values, 0, &DecodeError{Offset: pos, Row: -1, Column: -1,
			reason: fmt.Sprintf("%d bytes after the last value", len(data)-pos)}
	}
	return values, rows, nil
}

// validUTF8 is utf8.ValidString with a quicker path for the short ASCII
// strings that most columns hold, where the call's setup dominates.
func validUTF8(s string) bool {
	if len(s) > 32 {
		return utf8.ValidString(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

// decodeFailure locates a problem with the value at index i of a batch of
// columns columns, which starts at byte start.
func decodeFailure(start, i, columns int, reason string) *DecodeError {
	return &DecodeError{Offset: start, Row: i / columns, Column: i % columns, reason: reason}
}

// appendValue appends one value, tag and payload, to buf.
func appendValue(buf []byte, v Value) []byte {
	buf = append(buf, v.kind)
	switch v.kind {
	case uint8(Boolean):
		buf = append(buf, byte(v.bits))
	case uint8(Int64), uint8(Float64), uint8(TimestampMillis):
		buf = binary.LittleEndian.AppendUint64(buf, v.bits)
	case uint8(Utf8), uint8(Binary):
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(v.str)))
		buf = append(buf, v.str...)
	}
	return buf
}

// EncodeBatch encodes rows of schema in the row encoding, checking every
// value against its column. Useful to build input for tests and tools; an
// operator emits records through its Output instead.
func EncodeBatch(schema Schema, rows ...[]Value) ([]byte, error) {
	if len(rows) > math.MaxUint32 {
		return nil, fmt.Errorf("%d rows exceed the row encoding's limit of %d", len(rows), uint32(math.MaxUint32))
	}
	buf := make([]byte, headerLen, 64)
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(rows)))
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(schema.Fields)))
	for r, row := range rows {
		if err := checkRecord(&schema, row); err != nil {
			return nil, fmt.Errorf("row %d: %w", r, err)
		}
		for _, v := range row {
			buf = appendValue(buf, v)
		}
	}
	return buf, nil
}

// DecodeBatch decodes a batch of schema in the row encoding into its rows.
// Text and binary values refer to data, which must not be modified while they
// are in use.
func DecodeBatch(schema Schema, data []byte) ([][]Value, error) {
	values, n, err := decodeBatch(data, &schema, nil)
	if err != nil {
		return nil, err
	}
	return splitRows(values, n, len(schema.Fields)), nil
}

func splitRows(values []Value, rows, columns int) [][]Value {
	out := make([][]Value, rows)
	for r := range out {
		out[r] = values[r*columns : (r+1)*columns : (r+1)*columns]
	}
	return out
}

// checkRecord checks one record against schema: the number of values, each
// value's type, nulls only where nullable, valid UTF-8 and lengths that fit
// the encoding.
func checkRecord(schema *Schema, values []Value) error {
	fields := schema.Fields
	if len(values) != len(fields) {
		return Internalf("a record of %d values, the schema has %d columns (%s)",
			len(values), len(fields), schema.columnList())
	}
	for i := range fields {
		f, v := &fields[i], values[i]
		if !f.accepts(v) {
			return Internalf("column `%s` is %s, the schema says %s", f.Name, v.typeName(), f.describe())
		}
		switch v.kind {
		case uint8(Utf8):
			if !validUTF8(v.str) {
				return Internalf("column `%s`: the text is not valid UTF-8", f.Name)
			}
			fallthrough
		case uint8(Binary):
			if uint64(len(v.str)) > math.MaxUint32 {
				return Internalf("column `%s`: a value of %d bytes exceeds the 4 GiB limit of the row encoding", f.Name, len(v.str))
			}
		}
	}
	return nil
}
