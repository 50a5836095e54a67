package operator

import (
	"encoding/hex"
	"math"
	"strconv"
	"unsafe"
)

const tagNull uint8 = 0

// Value is one value of a record: a null or a value of one of the data
// types. The zero Value is a null.
//
// A Value decoded from an input batch refers to the batch's bytes: text and
// binary values are views, not copies. They stay valid for as long as they
// are referenced, but keeping one beyond the call keeps the whole batch in
// memory; use strings.Clone or bytes.Clone for values held across calls.
type Value struct {
	kind uint8
	// bits holds booleans (0 or 1), int64 and timestamps (two's complement)
	// and float64 (IEEE 754 bits).
	bits uint64
	// str holds utf8 and binary values.
	str string
}

// Null is the null value.
func Null() Value { return Value{} }

// BoolValue is a boolean value.
func BoolValue(v bool) Value {
	var b uint64
	if v {
		b = 1
	}
	return Value{kind: uint8(Boolean), bits: b}
}

// Int64Value is an int64 value.
func Int64Value(v int64) Value { return Value{kind: uint8(Int64), bits: uint64(v)} }

// Float64Value is a float64 value.
func Float64Value(v float64) Value {
	return Value{kind: uint8(Float64), bits: math.Float64bits(v)}
}

// Utf8Value is a utf8 value. The text must be valid UTF-8; emitting a value
// that is not fails the call with an internal error.
func Utf8Value(v string) Value { return Value{kind: uint8(Utf8), str: v} }

// Utf8BytesValue is a utf8 value viewing b, which must hold valid UTF-8. It
// does not copy b: emit the value before modifying b. It spares a copy when
// text is built in a reused buffer.
func Utf8BytesValue(b []byte) Value {
	return Value{kind: uint8(Utf8), str: unsafe.String(unsafe.SliceData(b), len(b))}
}

// BinaryValue is a binary value. It does not copy v: modifying v before the
// value is emitted changes the value.
func BinaryValue(v []byte) Value {
	return Value{kind: uint8(Binary), str: unsafe.String(unsafe.SliceData(v), len(v))}
}

// TimestampMillisValue is a timestamp-millis value: milliseconds since the
// Unix epoch, UTC.
func TimestampMillisValue(ms int64) Value {
	return Value{kind: uint8(TimestampMillis), bits: uint64(ms)}
}

// IsNull tells whether the value is null.
func (v Value) IsNull() bool { return v.kind == tagNull }

// Type is the value's data type; meaningless (zero) for a null.
func (v Value) Type() DataType { return DataType(v.kind) }

// typeName names the value's type for messages ("null" for a null).
func (v Value) typeName() string { return tagName(v.kind) }

// AsBool is the value as a boolean, and whether it is one.
func (v Value) AsBool() (bool, bool) { return v.bits != 0, v.kind == uint8(Boolean) }

// AsInt64 is the value as an int64, and whether it is one.
func (v Value) AsInt64() (int64, bool) { return int64(v.bits), v.kind == uint8(Int64) }

// AsFloat64 is the value as a float64, and whether it is one.
func (v Value) AsFloat64() (float64, bool) {
	return math.Float64frombits(v.bits), v.kind == uint8(Float64)
}

// AsUtf8 is the value as text, and whether it is utf8.
func (v Value) AsUtf8() (string, bool) { return v.str, v.kind == uint8(Utf8) }

// AsBinary is the value as bytes, and whether it is binary. The bytes must
// not be modified: they may be part of an input batch.
func (v Value) AsBinary() ([]byte, bool) {
	if v.kind != uint8(Binary) {
		return nil, false
	}
	return unsafe.Slice(unsafe.StringData(v.str), len(v.str)), true
}

// AsTimestampMillis is the value as milliseconds since the Unix epoch, and
// whether it is a timestamp-millis.
func (v Value) AsTimestampMillis() (int64, bool) {
	return int64(v.bits), v.kind == uint8(TimestampMillis)
}

// Equal tells whether two values have the same type and content. Float64
// values compare by their bits, so NaN equals NaN and -0.0 differs from 0.0.
func (v Value) Equal(other Value) bool {
	return v.kind == other.kind && v.bits == other.bits && v.str == other.str
}

// String formats the value for messages and tests: null, true, 42, 1.5,
// "text" (quoted), x'00ff' (binary), 1700000000000ms (timestamp).
func (v Value) String() string {
	switch v.kind {
	case tagNull:
		return "null"
	case uint8(Boolean):
		return strconv.FormatBool(v.bits != 0)
	case uint8(Int64):
		return strconv.FormatInt(int64(v.bits), 10)
	case uint8(Float64):
		return strconv.FormatFloat(math.Float64frombits(v.bits), 'g', -1, 64)
	case uint8(Utf8):
		return strconv.Quote(v.str)
	case uint8(Binary):
		return "x'" + hex.EncodeToString([]byte(v.str)) + "'"
	case uint8(TimestampMillis):
		return strconv.FormatInt(int64(v.bits), 10) + "ms"
	default:
		return tagName(v.kind)
	}
}
