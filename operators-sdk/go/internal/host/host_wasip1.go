//go:build wasip1

package host

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"
	ks "weir.dev/operator/internal/bindings/weir_operator_keyed_state"
	wlog "weir.dev/operator/internal/bindings/weir_operator_log"
	wmetrics "weir.dev/operator/internal/bindings/weir_operator_metrics"
	wtimers "weir.dev/operator/internal/bindings/weir_operator_timers"
	wtypes "weir.dev/operator/internal/bindings/weir_operator_types"
)

func Log(level Level, message string) { wlog.Log(wlog.Level(level), message) }

func LogEnabled(level Level) bool { return wlog.Enabled(wlog.Level(level)) }

func CounterAdd(name string, delta uint64) { wmetrics.CounterAdd(name, delta) }

func GaugeSet(name string, value float64) { wmetrics.GaugeSet(name, value) }

func failure(e wtypes.HostError) *Failure {
	switch e.Tag() {
	case wtypes.HostErrorUnavailable:
		return &Failure{Cause: "unavailable", Message: e.Unavailable()}
	case wtypes.HostErrorLimitExceeded:
		return &Failure{Cause: "limit exceeded", Message: e.LimitExceeded()}
	default:
		return &Failure{Cause: "invalid argument", Message: e.InvalidArgument()}
	}
}

func done(r witTypes.Result[witTypes.Unit, wtypes.HostError]) *Failure {
	if r.IsErr() {
		return failure(r.Err())
	}
	return nil
}

func options(values []witTypes.Option[[]byte]) [][]byte {
	out := make([][]byte, len(values))
	for i, v := range values {
		if v.IsSome() {
			out[i] = present(v.Some())
		}
	}
	return out
}

func option(v []byte) witTypes.Option[[]byte] {
	if v == nil {
		return witTypes.None[[]byte]()
	}
	return witTypes.Some(v)
}

type ValueState struct{ h *ks.ValueState }

func OpenValueState(name string) (*ValueState, *Failure) {
	r := ks.ValueStateOpen(name)
	if r.IsErr() {
		return nil, failure(r.Err())
	}
	return &ValueState{r.Ok()}, nil
}

func (s *ValueState) Get(keys [][]byte) ([][]byte, *Failure) {
	r := s.h.Get(keys)
	if r.IsErr() {
		return nil, failure(r.Err())
	}
	return options(r.Ok()), nil
}

func (s *ValueState) Put(entries []Pair) *Failure {
	in := make([]witTypes.Tuple2[[]byte, witTypes.Option[[]byte]], len(entries))
	for i, e := range entries {
		in[i] = witTypes.Tuple2[[]byte, witTypes.Option[[]byte]]{F0: e.Key, F1: option(e.Value)}
	}
	return done(s.h.Put(in))
}

type MapState struct{ h *ks.MapState }

func OpenMapState(name string) (*MapState, *Failure) {
	r := ks.MapStateOpen(name)
	if r.IsErr() {
		return nil, failure(r.Err())
	}
	return &MapState{r.Ok()}, nil
}

func (s *MapState) Get(lookups []Pair) ([][]byte, *Failure) {
	in := make([]witTypes.Tuple2[[]byte, []byte], len(lookups))
	for i, l := range lookups {
		in[i] = witTypes.Tuple2[[]byte, []byte]{F0: l.Key, F1: l.Value}
	}
	r := s.h.Get(in)
	if r.IsErr() {
		return nil, failure(r.Err())
	}
	return options(r.Ok()), nil
}

func (s *MapState) Put(entries []MapUpdate) *Failure {
	in := make([]witTypes.Tuple3[[]byte, []byte, witTypes.Option[[]byte]], len(entries))
	for i, e := range entries {
		in[i] = witTypes.Tuple3[[]byte, []byte, witTypes.Option[[]byte]]{F0: e.Key, F1: e.UserKey, F2: option(e.Value)}
	}
	return done(s.h.Put(in))
}

func (s *MapState) Entries(key []byte) ([]Pair, *Failure) {
	r := s.h.Entries(key)
	if r.IsErr() {
		return nil, failure(r.Err())
	}
	got := r.Ok()
	out := make([]Pair, len(got))
	for i, e := range got {
		out[i] = Pair{Key: present(e.F0), Value: present(e.F1)}
	}
	return out, nil
}

func (s *MapState) Clear(keys [][]byte) *Failure { return done(s.h.Clear(keys)) }

type ListState struct{ h *ks.ListState }

func OpenListState(name string) (*ListState, *Failure) {
	r := ks.ListStateOpen(name)
	if r.IsErr() {
		return nil, failure(r.Err())
	}
	return &ListState{r.Ok()}, nil
}

func (s *ListState) Get(keys [][]byte) ([][][]byte, *Failure) {
	r := s.h.Get(keys)
	if r.IsErr() {
		return nil, failure(r.Err())
	}
	got := r.Ok()
	for _, list := range got {
		for j := range list {
			list[j] = present(list[j])
		}
	}
	return got, nil
}

func (s *ListState) Append(entries []Pair) *Failure {
	in := make([]witTypes.Tuple2[[]byte, []byte], len(entries))
	for i, e := range entries {
		in[i] = witTypes.Tuple2[[]byte, []byte]{F0: e.Key, F1: e.Value}
	}
	return done(s.h.Append(in))
}

func (s *ListState) Clear(keys [][]byte) *Failure { return done(s.h.Clear(keys)) }

func timers(ts []Timer) []wtimers.Timer {
	out := make([]wtimers.Timer, len(ts))
	for i, t := range ts {
		out[i] = wtimers.Timer{Key: t.Key, Timestamp: t.Timestamp, Domain: wtimers.TimeDomain(t.Domain)}
	}
	return out
}

func RegisterTimers(ts []Timer) *Failure { return done(wtimers.Register(timers(ts))) }

func DeleteTimers(ts []Timer) *Failure { return done(wtimers.Delete(timers(ts))) }

func CurrentWatermark() (int64, bool) {
	w := wtimers.CurrentWatermark()
	if w.IsNone() {
		return 0, false
	}
	return w.Some(), true
}

func CurrentProcessingTime() int64 { return wtimers.CurrentProcessingTime() }
