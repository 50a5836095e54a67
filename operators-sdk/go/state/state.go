// Package state is keyed state owned by the Weir runtime.
//
// State survives failures because it lives in the host, not in the
// component's memory: the runtime snapshots it at checkpoints, restores it
// after a failure and redistributes it by key when a job is rescaled. It is
// scoped to a key of the operator's keyed input (keyBy in the job spec), and
// every operation is batched: collect the keys of a batch, then make one
// call.
//
// Values are opaque bytes; encode them as you like (encoding/binary,
// encoding/json, ...). A nil []byte means "no value" throughout: Get returns
// nil for a key without a value (and an empty, non-nil slice for an empty
// value), and a nil value in Put clears the key.
//
// A failed host call is an error of kind operator.KindHost carrying the
// runtime's message, for example when the operator's input is not keyed.
package state

import (
	"encoding/binary"
	"math"

	"weir.dev/operator"
	"weir.dev/operator/internal/host"
)

// Key is a state key: the row encoding of the key columns' values (see
// KeyOf).
type Key = []byte

// AppendKey appends the key of rec to dst and returns the extended slice:
// for each of columns, in order, the value's tag and payload exactly as in
// the row encoding.
//
// columns are the input column indexes of the key fields, in the order of
// OpenContext.KeyFields; OpenContext.KeyIndexes resolves them once at open.
func AppendKey(dst []byte, rec operator.Record, columns []int) ([]byte, error) {
	for _, c := range columns {
		v, err := rec.Value(c)
		if err != nil {
			return dst, err
		}
		dst = appendValue(dst, v)
	}
	return dst, nil
}

// KeyOf is the key of rec over columns; see AppendKey.
func KeyOf(rec operator.Record, columns []int) (Key, error) {
	return AppendKey(nil, rec, columns)
}

func appendValue(dst []byte, v operator.Value) []byte {
	if v.IsNull() {
		return append(dst, 0)
	}
	dst = append(dst, byte(v.Type()))
	switch v.Type() {
	case operator.Boolean:
		b, _ := v.AsBool()
		if b {
			return append(dst, 1)
		}
		return append(dst, 0)
	case operator.Int64:
		i, _ := v.AsInt64()
		return binary.LittleEndian.AppendUint64(dst, uint64(i))
	case operator.TimestampMillis:
		i, _ := v.AsTimestampMillis()
		return binary.LittleEndian.AppendUint64(dst, uint64(i))
	case operator.Float64:
		f, _ := v.AsFloat64()
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	case operator.Utf8:
		s, _ := v.AsUtf8()
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
		return append(dst, s...)
	default:
		b, _ := v.AsBinary()
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)))
		return append(dst, b...)
	}
}

// hostError turns a host failure into an operator error of kind host that
// keeps the host's message.
func hostError(what string, f *host.Failure) error {
	if f == nil {
		return nil
	}
	return operator.HostErrorf("%s: %s: %s", what, f.Cause, f.Message)
}

// Entry is a key and its value; a nil Value clears the key in
// ValueState.Put.
type Entry struct {
	Key   Key
	Value []byte
}

// MapUpdate sets (or, with a nil Value, removes) the value under UserKey in
// the map of Key.
type MapUpdate struct {
	Key     Key
	UserKey []byte
	Value   []byte
}

// MapLookup names one value of a map: the user key UserKey in the map of Key.
type MapLookup struct {
	Key     Key
	UserKey []byte
}

// MapEntry is one (user key, value) of a map.
type MapEntry struct {
	UserKey []byte
	Value   []byte
}

// ValueState holds one value per key.
type ValueState struct {
	name string
	h    *host.ValueState
}

// OpenValueState opens (creating on first use) the value state called name.
// Names are scoped to the operator; the same name always opens the same
// state, also after a restore. Open once, in the open function, and keep the
// handle.
func OpenValueState(name string) (*ValueState, error) {
	h, f := host.OpenValueState(name)
	if f != nil {
		return nil, hostError("value state `"+name+"`", f)
	}
	return &ValueState{name: name, h: h}, nil
}

// Name is the name the state was opened with.
func (s *ValueState) Name() string { return s.name }

// Get is the value of each key, in order; nil where a key has no value.
func (s *ValueState) Get(keys []Key) ([][]byte, error) {
	v, f := s.h.Get(keys)
	return v, hostError("value state `"+s.name+"`", f)
}

// Put sets each key's value, in order; a nil Value clears the key.
func (s *ValueState) Put(entries []Entry) error {
	pairs := make([]host.Pair, len(entries))
	for i, e := range entries {
		pairs[i] = host.Pair{Key: e.Key, Value: e.Value}
	}
	return hostError("value state `"+s.name+"`", s.h.Put(pairs))
}

// MapState holds a map from user keys to values per key.
type MapState struct {
	name string
	h    *host.MapState
}

// OpenMapState opens (creating on first use) the map state called name.
func OpenMapState(name string) (*MapState, error) {
	h, f := host.OpenMapState(name)
	if f != nil {
		return nil, hostError("map state `"+name+"`", f)
	}
	return &MapState{name: name, h: h}, nil
}

// Name is the name the state was opened with.
func (s *MapState) Name() string { return s.name }

// Get is the value of each lookup, in order; nil where there is none.
func (s *MapState) Get(lookups []MapLookup) ([][]byte, error) {
	pairs := make([]host.Pair, len(lookups))
	for i, l := range lookups {
		pairs[i] = host.Pair{Key: l.Key, Value: l.UserKey}
	}
	v, f := s.h.Get(pairs)
	return v, hostError("map state `"+s.name+"`", f)
}

// Put applies each update, in order.
func (s *MapState) Put(updates []MapUpdate) error {
	in := make([]host.MapUpdate, len(updates))
	for i, u := range updates {
		in[i] = host.MapUpdate{Key: u.Key, UserKey: u.UserKey, Value: u.Value}
	}
	return hostError("map state `"+s.name+"`", s.h.Put(in))
}

// Entries is every (user key, value) of the map of key, in user-key byte
// order.
func (s *MapState) Entries(key Key) ([]MapEntry, error) {
	pairs, f := s.h.Entries(key)
	if f != nil {
		return nil, hostError("map state `"+s.name+"`", f)
	}
	out := make([]MapEntry, len(pairs))
	for i, p := range pairs {
		out[i] = MapEntry{UserKey: p.Key, Value: p.Value}
	}
	return out, nil
}

// Clear removes the whole map of each key.
func (s *MapState) Clear(keys []Key) error {
	return hostError("map state `"+s.name+"`", s.h.Clear(keys))
}

// ListState holds an append-only list of values per key.
type ListState struct {
	name string
	h    *host.ListState
}

// OpenListState opens (creating on first use) the list state called name.
func OpenListState(name string) (*ListState, error) {
	h, f := host.OpenListState(name)
	if f != nil {
		return nil, hostError("list state `"+name+"`", f)
	}
	return &ListState{name: name, h: h}, nil
}

// Name is the name the state was opened with.
func (s *ListState) Name() string { return s.name }

// Get is the list of each key, in order (empty where a key has none).
func (s *ListState) Get(keys []Key) ([][][]byte, error) {
	v, f := s.h.Get(keys)
	return v, hostError("list state `"+s.name+"`", f)
}

// Append appends each entry's value to its key's list.
func (s *ListState) Append(entries []Entry) error {
	pairs := make([]host.Pair, len(entries))
	for i, e := range entries {
		if e.Value == nil {
			e.Value = []byte{}
		}
		pairs[i] = host.Pair{Key: e.Key, Value: e.Value}
	}
	return hostError("list state `"+s.name+"`", s.h.Append(pairs))
}

// Clear empties the list of each key.
func (s *ListState) Clear(keys []Key) error {
	return hostError("list state `"+s.name+"`", s.h.Clear(keys))
}
