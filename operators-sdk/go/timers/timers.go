// Package timers manages timers, which the Weir runtime owns: register them
// per key, and they fire through the operator's OnTimer (see
// operator.TimerHandler). Timers are part of checkpointed state.
//
// Outside a Weir runtime (native unit tests) registering fails with a host
// error, there is no watermark, and processing time is the system clock.
package timers

import (
	"weir.dev/operator"
	"weir.dev/operator/internal/host"
)

func convert(ts []operator.Timer) []host.Timer {
	out := make([]host.Timer, len(ts))
	for i, t := range ts {
		out[i] = host.Timer{Key: t.Key, Timestamp: t.Timestamp, Domain: uint8(t.Domain)}
	}
	return out
}

func hostError(what string, f *host.Failure) error {
	if f == nil {
		return nil
	}
	return operator.HostErrorf("%s: %s: %s", what, f.Cause, f.Message)
}

// Register registers timers; registering the same (key, timestamp, domain)
// twice keeps one.
func Register(timers ...operator.Timer) error {
	return hostError("registering timers", host.RegisterTimers(convert(timers)))
}

// Delete deletes timers registered earlier.
func Delete(timers ...operator.Timer) error {
	return hostError("deleting timers", host.DeleteTimers(convert(timers)))
}

// CurrentWatermark is the operator's current watermark (milliseconds since
// the Unix epoch), and whether one has arrived.
func CurrentWatermark() (int64, bool) { return host.CurrentWatermark() }

// CurrentProcessingTime is the runtime's clock, in milliseconds since the
// Unix epoch. Unlike the WASI wall clock (time.Now), which reads 0 unless the
// job grants it, this is always available: processing time is part of the
// contract.
func CurrentProcessingTime() int64 { return host.CurrentProcessingTime() }
