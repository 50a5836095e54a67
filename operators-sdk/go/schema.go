package operator

import (
	"fmt"
	"strings"
)

// DataType is one of the column types a Weir stream carries, each one Arrow
// type. Its numeric value is the tag of a non-null value of the type in the
// row encoding.
type DataType uint8

const (
	// Boolean is Arrow Boolean.
	Boolean DataType = 1
	// Int64 is Arrow Int64.
	Int64 DataType = 2
	// Float64 is Arrow Float64.
	Float64 DataType = 3
	// Utf8 is Arrow Utf8: valid UTF-8 text.
	Utf8 DataType = 4
	// Binary is Arrow Binary: arbitrary bytes.
	Binary DataType = 5
	// TimestampMillis is Arrow Timestamp(Millisecond, None): milliseconds
	// since the Unix epoch, UTC. Event time columns have this type.
	TimestampMillis DataType = 6
)

// String is the type's name as the WIT contract spells it (`utf8`,
// `timestamp-millis`, ...).
func (t DataType) String() string {
	return tagName(uint8(t))
}

func (t DataType) valid() bool {
	return t >= Boolean && t <= TimestampMillis
}

// tagName names a row-encoding tag for messages.
func tagName(tag uint8) string {
	switch tag {
	case tagNull:
		return "null"
	case uint8(Boolean):
		return "boolean"
	case uint8(Int64):
		return "int64"
	case uint8(Float64):
		return "float64"
	case uint8(Utf8):
		return "utf8"
	case uint8(Binary):
		return "binary"
	case uint8(TimestampMillis):
		return "timestamp-millis"
	default:
		return fmt.Sprintf("unknown type %d", tag)
	}
}

// Field is one column of a schema. Names are unique within a schema and
// case-sensitive.
type Field struct {
	Name     string
	Type     DataType
	Nullable bool
}

// accepts tells whether v may be stored in the column.
func (f Field) accepts(v Value) bool {
	if v.kind == tagNull {
		return f.Nullable
	}
	return v.kind == uint8(f.Type)
}

// describe says what a value of the column should be, for messages.
func (f Field) describe() string {
	if f.Nullable {
		return f.Type.String() + " or null"
	}
	return f.Type.String()
}

// Schema is the columns of every batch of a stream, in order.
type Schema struct {
	Fields []Field
}

// NewSchema is a schema of fields, in order.
func NewSchema(fields ...Field) Schema {
	return Schema{Fields: fields}
}

// Len is the number of columns.
func (s Schema) Len() int {
	return len(s.Fields)
}

// IndexOf is the index of the column called name.
//
// Meant for the open function: a missing column means the operator is placed
// after a stream it cannot read, so the error is invalid-config and lists the
// columns that exist.
func (s Schema) IndexOf(name string) (int, error) {
	for i, f := range s.Fields {
		if f.Name == name {
			return i, nil
		}
	}
	return -1, InvalidConfigf("the input has no column `%s`; its columns are: %s", name, s.columnList())
}

// String lists the columns as `name: type`, for messages and debugging.
func (s Schema) String() string {
	return s.columnList()
}

func (s Schema) columnList() string {
	if len(s.Fields) == 0 {
		return "(none)"
	}
	parts := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		parts[i] = fmt.Sprintf("`%s` (%s)", f.Name, f.describe())
	}
	return strings.Join(parts, ", ")
}

// columnName names a column for messages, also for an index out of range.
func (s Schema) columnName(i int) string {
	if i < 0 || i >= len(s.Fields) {
		return "?"
	}
	return s.Fields[i].Name
}

// check verifies what the contract requires of an output schema: known types
// and unique names.
func (s Schema) check() error {
	seen := make(map[string]struct{}, len(s.Fields))
	for _, f := range s.Fields {
		if !f.Type.valid() {
			return Internalf("the output schema's column `%s` has no valid type (%d)", f.Name, uint8(f.Type))
		}
		if _, dup := seen[f.Name]; dup {
			return Internalf("the output schema has two columns named `%s`", f.Name)
		}
		seen[f.Name] = struct{}{}
	}
	return nil
}

// Equal tells whether two schemas have the same columns in the same order.
func (s Schema) Equal(other Schema) bool {
	if len(s.Fields) != len(other.Fields) {
		return false
	}
	for i := range s.Fields {
		if s.Fields[i] != other.Fields[i] {
			return false
		}
	}
	return true
}
