package state

import (
	"encoding/hex"
	"strings"
	"testing"

	"weir.dev/operator"
)

func TestKeysAreTheRowEncodingOfTheKeyColumns(t *testing.T) {
	schema := operator.NewSchema(
		operator.Field{Name: "word", Type: operator.Utf8},
		operator.Field{Name: "n", Type: operator.Int64, Nullable: true},
		operator.Field{Name: "ok", Type: operator.Boolean},
	)
	rec := operator.NewRecord(schema, operator.Utf8Value("hi"), operator.Null(), operator.BoolValue(true))
	// docs/row-encoding.md: the key "hi" of a utf8 column.
	key, err := KeyOf(rec, []int{0})
	if err != nil || hex.EncodeToString(key) != "04020000006869" {
		t.Errorf("got %x, %v", key, err)
	}
	key, err = AppendKey([]byte{0xaa}, rec, []int{2, 1, 0})
	if err != nil || hex.EncodeToString(key) != "aa"+"0101"+"00"+"04020000006869" {
		t.Errorf("got %x, %v", key, err)
	}
	if _, err := KeyOf(rec, []int{3}); operator.KindOf(err) != operator.KindInternal {
		t.Errorf("a column out of range: %v", err)
	}
}

func TestKeysOfEveryType(t *testing.T) {
	schema := operator.NewSchema(
		operator.Field{Name: "i", Type: operator.Int64},
		operator.Field{Name: "f", Type: operator.Float64},
		operator.Field{Name: "b", Type: operator.Binary},
		operator.Field{Name: "ts", Type: operator.TimestampMillis},
	)
	values := []operator.Value{operator.Int64Value(-1), operator.Float64Value(1.5), operator.BinaryValue([]byte{0xde, 0xad}), operator.TimestampMillisValue(3)}
	key, err := KeyOf(operator.NewRecord(schema, values...), []int{0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	// A key is a headerless row: the batch encoding of the same values
	// after its 8-byte header.
	batch, err := operator.EncodeBatch(schema, values)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(key) != hex.EncodeToString(batch[8:]) {
		t.Errorf("key %x, row %x", key, batch[8:])
	}
}

// Outside a runtime every state is unavailable, reported as the runtime
// would: an error of kind host with the cause and the host's message.
func TestStateOutsideARuntimeIsAHostError(t *testing.T) {
	_, err := OpenValueState("counts")
	if operator.KindOf(err) != operator.KindHost || !strings.HasPrefix(err.Error(), "value state `counts`: unavailable: ") {
		t.Errorf("value state: %v", err)
	}
	if _, err := OpenMapState("m"); operator.KindOf(err) != operator.KindHost || !strings.Contains(err.Error(), "map state `m`: unavailable") {
		t.Errorf("map state: %v", err)
	}
	if _, err := OpenListState("l"); operator.KindOf(err) != operator.KindHost || !strings.Contains(err.Error(), "list state `l`: unavailable") {
		t.Errorf("list state: %v", err)
	}
}
