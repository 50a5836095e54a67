package operator

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// rowVectors are the shared test vectors of the row encoding, which every
// SDK must decode and encode byte for byte.
type rowVectors struct {
	Vectors []struct {
		Name   string `json:"name"`
		Schema []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Nullable bool   `json:"nullable"`
		} `json:"schema"`
		Rows [][]any `json:"rows"`
		Hex  string  `json:"hex"`
	} `json:"vectors"`
}

func dataTypeNamed(t *testing.T, name string) DataType {
	for d := Boolean; d <= TimestampMillis; d++ {
		if d.String() == name {
			return d
		}
	}
	t.Fatalf("unknown type %q in the vectors", name)
	return 0
}

// vectorValue converts a JSON value of the vectors into a Value of type t.
func vectorValue(t *testing.T, typ DataType, v any) Value {
	t.Helper()
	if v == nil {
		return Null()
	}
	switch typ {
	case Boolean:
		return BoolValue(v.(bool))
	case Int64, TimestampMillis:
		n, err := strconv.ParseInt(v.(string), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if typ == Int64 {
			return Int64Value(n)
		}
		return TimestampMillisValue(n)
	case Float64:
		f, err := strconv.ParseFloat(v.(string), 64)
		if err != nil {
			t.Fatal(err)
		}
		return Float64Value(f)
	case Utf8:
		return Utf8Value(v.(string))
	default:
		b, err := hex.DecodeString(v.(string))
		if err != nil {
			t.Fatal(err)
		}
		return BinaryValue(b)
	}
}

func loadVectors(t *testing.T) rowVectors {
	t.Helper()
	data, err := os.ReadFile("../testdata/row-vectors.json")
	if err != nil {
		t.Fatalf("the shared row vectors: %v", err)
	}
	var vs rowVectors
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func TestRowVectors(t *testing.T) {
	for _, v := range loadVectors(t).Vectors {
		t.Run(v.Name, func(t *testing.T) {
			var schema Schema
			for _, f := range v.Schema {
				schema.Fields = append(schema.Fields, Field{Name: f.Name, Type: dataTypeNamed(t, f.Type), Nullable: f.Nullable})
			}
			want := make([][]Value, len(v.Rows))
			for r, row := range v.Rows {
				for c, cell := range row {
					want[r] = append(want[r], vectorValue(t, schema.Fields[c].Type, cell))
				}
			}
			data, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatal(err)
			}

			encoded, err := EncodeBatch(schema, want...)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(encoded); got != v.Hex {
				t.Errorf("encoded\n got %s\nwant %s", got, v.Hex)
			}

			got, err := DecodeBatch(schema, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("decoded %d rows, want %d", len(got), len(want))
			}
			for r := range want {
				for c := range want[r] {
					if !got[r][c].Equal(want[r][c]) {
						t.Errorf("row %d column %d: got %v, want %v", r, c, got[r][c], want[r][c])
					}
				}
			}

			// The same rows through an Output, as an operator emits them.
			if len(schema.Fields) > 0 {
				out := NewOutput(schema)
				for _, row := range want {
					if err := out.Emit(row...); err != nil {
						t.Fatal(err)
					}
				}
				if len(want) > 0 {
					batches := out.Batches()
					if len(batches) != 1 || hex.EncodeToString(batches[0]) != v.Hex {
						t.Errorf("output batches %x, want one of %s", batches, v.Hex)
					}
				}
			}
		})
	}
}

func TestNegativeZeroAndNaNKeepTheirBits(t *testing.T) {
	schema := NewSchema(Field{Name: "f", Type: Float64})
	nan := math.Float64frombits(0x7ff8000000000001)
	data, err := EncodeBatch(schema, []Value{Float64Value(math.Copysign(0, -1))}, []Value{Float64Value(nan)})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := DecodeBatch(schema, data)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := rows[0][0].AsFloat64(); !math.Signbit(f) || f != 0 {
		t.Errorf("got %v, want -0", f)
	}
	if f, _ := rows[1][0].AsFloat64(); math.Float64bits(f) != 0x7ff8000000000001 {
		t.Errorf("got bits %x", math.Float64bits(f))
	}
}

func TestDecodeNamesWhatIsMalformed(t *testing.T) {
	schema := NewSchema(Field{Name: "word", Type: Utf8}, Field{Name: "n", Type: Int64, Nullable: true})
	booleans := NewSchema(Field{Name: "b", Type: Boolean})
	for _, tc := range []struct {
		name, hex, want string
		schema          *Schema
	}{
		{"short header", "020000", "batch shorter than its 8-byte header (byte 0)", nil},
		{"column count", "0100000003000000", "batch has 3 columns, the schema has 2 (byte 4)", nil},
		{"unknown tag", "0100000002000000" + "09", "unknown value tag 9 (byte 8, row 0, column 0)", nil},
		{"truncated text", "0100000002000000" + "0405000000686869", "batch ends inside a value (byte 8, row 0, column 0)", nil},
		{"truncated int", "0100000002000000" + "040000000002010203", "batch ends inside a value (byte 13, row 0, column 1)", nil},
		{"missing values", "0200000002000000" + "0400000000" + "00", "batch ends inside a value (byte 14, row 1, column 0)", nil},
		{"trailing bytes", "0100000002000000" + "0400000000" + "00" + "ff", "1 bytes after the last value (byte 14)", nil},
		{"invalid utf8", "0100000002000000" + "0401000000ff" + "00", "utf8 value is not valid UTF-8 (byte 8, row 0, column 0)", nil},
		{"invalid boolean", "0100000001000000" + "0102", "boolean byte 2 is neither 0 nor 1 (byte 8, row 0, column 0)", &booleans},
		{"wrong type", "0100000002000000" + "020100000000000000" + "00", "column `word`: expected utf8, found int64 (byte 8, row 0, column 0)", nil},
		{"null in a non-nullable column", "0100000002000000" + "00" + "00", "column `word`: expected utf8, found null (byte 8, row 0, column 0)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			s := schema
			if tc.schema != nil {
				s = *tc.schema
			}
			_, err = DecodeBatch(s, data)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DecodeError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %q\nwant %q", err.Error(), tc.want)
			}
		})
	}
}

// A header claiming billions of rows must not make the decoder reserve
// memory for them.
func TestDecodeDoesNotTrustTheRowCount(t *testing.T) {
	schema := NewSchema(Field{Name: "n", Type: Int64})
	data, _ := hex.DecodeString("ffffffff01000000" + "020100000000000000")
	_, err := DecodeBatch(schema, data)
	if err == nil || !strings.Contains(err.Error(), "batch ends inside a value") {
		t.Fatalf("got %v", err)
	}
}

func TestDecodedTextSharesTheBatch(t *testing.T) {
	schema := NewSchema(Field{Name: "s", Type: Utf8})
	data, _ := EncodeBatch(schema, []Value{Utf8Value("hello")})
	rows, _ := DecodeBatch(schema, data)
	s, _ := rows[0][0].AsUtf8()
	if s != "hello" {
		t.Fatalf("got %q", s)
	}
	// No copy was made: the string's bytes are the batch's.
	data[len(data)-5] = 'j'
	if s, _ := rows[0][0].AsUtf8(); s != "jello" {
		t.Errorf("got %q: the value was copied", s)
	}
}

func TestEncodeChecksRecords(t *testing.T) {
	schema := NewSchema(Field{Name: "n", Type: Int64})
	if _, err := EncodeBatch(schema, []Value{Utf8Value("x")}); err == nil || !strings.Contains(err.Error(), "row 0: column `n` is utf8, the schema says int64") {
		t.Errorf("got %v", err)
	}
}

func TestValidUTF8AgreesWithTheStandardLibrary(t *testing.T) {
	for _, s := range []string{"", "a", "key-123", "Zoë", "日本語", "\xff", "abc\xff", "ab\xe6\x97", strings.Repeat("a", 40) + "\xff",
		strings.Repeat("é", 20), "\xed\xa0\x80" /* a surrogate */, "\xc0\xaf" /* overlong */} {
		if got, want := validUTF8(s), utf8.ValidString(s); got != want {
			t.Errorf("%q: got %v, want %v", s, got, want)
		}
	}
}

func FuzzValidUTF8(f *testing.F) {
	f.Add("Zoë 日本 🌊")
	f.Add("a\xffb")
	f.Fuzz(func(t *testing.T, s string) {
		if validUTF8(s) != utf8.ValidString(s) {
			t.Errorf("%q", s)
		}
	})
}
