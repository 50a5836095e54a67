//go:build !wasip1

package host

import (
	"fmt"
	"os"
	"time"
)

func outside() *Failure {
	return &Failure{Cause: "unavailable", Message: "keyed state and timers exist only inside a Weir runtime"}
}

func Log(level Level, message string) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", level, message)
}

func LogEnabled(Level) bool { return true }

func CounterAdd(string, uint64) {}

func GaugeSet(string, float64) {}

// The state handles cannot be opened outside a runtime, so their methods are
// never reached.

type ValueState struct{}

func OpenValueState(string) (*ValueState, *Failure) { return nil, outside() }

func (*ValueState) Get([][]byte) ([][]byte, *Failure) { return nil, outside() }

func (*ValueState) Put([]Pair) *Failure { return outside() }

type MapState struct{}

func OpenMapState(string) (*MapState, *Failure) { return nil, outside() }

func (*MapState) Get([]Pair) ([][]byte, *Failure) { return nil, outside() }

func (*MapState) Put([]MapUpdate) *Failure { return outside() }

func (*MapState) Entries([]byte) ([]Pair, *Failure) { return nil, outside() }

func (*MapState) Clear([][]byte) *Failure { return outside() }

type ListState struct{}

func OpenListState(string) (*ListState, *Failure) { return nil, outside() }

func (*ListState) Get([][]byte) ([][][]byte, *Failure) { return nil, outside() }

func (*ListState) Append([]Pair) *Failure { return outside() }

func (*ListState) Clear([][]byte) *Failure { return outside() }

func RegisterTimers([]Timer) *Failure { return outside() }

func DeleteTimers([]Timer) *Failure { return outside() }

func CurrentWatermark() (int64, bool) { return 0, false }

func CurrentProcessingTime() int64 { return time.Now().UnixMilli() }
