// Package host is the SDK's one door to the runtime's imports (logs,
// metrics, keyed state, timers). Inside a component it calls the generated
// bindings; everywhere else it stands in for them, so that operators can be
// unit tested natively: logs go to stderr, metrics are dropped, and state and
// timers report themselves unavailable, as a runtime does for an operator
// without a keyed input.
package host

// Level is a log level, in the order of the WIT enum.
type Level uint8

const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

func (l Level) String() string {
	switch l {
	case LevelTrace:
		return "trace"
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	default:
		return "error"
	}
}

// Failure is a host-error of the contract.
type Failure struct {
	// Cause is the variant: "unavailable", "limit exceeded" or
	// "invalid argument".
	Cause   string
	Message string
}

func (f *Failure) Error() string { return f.Cause + ": " + f.Message }

// Timer mirrors the contract's timer record; Domain 0 is event time, 1
// processing time.
type Timer struct {
	Key       []byte
	Timestamp int64
	Domain    uint8
}

// MapUpdate is one map-state put: a nil Value removes the entry.
type MapUpdate struct {
	Key, UserKey, Value []byte
}

// Pair is a key (or user key) and a value.
type Pair struct {
	Key, Value []byte
}

// present marks a value the host returned: a nil slice means "no value"
// throughout the SDK, so an empty value must be an empty, non-nil slice.
func present(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
