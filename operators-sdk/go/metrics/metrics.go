// Package metrics records user metrics, which the Weir runtime exports next
// to its own (Prometheus names are prefixed with the job and operator).
//
// Each call crosses into the host: call them per batch, not per record.
// Outside a Weir runtime (native unit tests) they do nothing.
package metrics

import "weir.dev/operator/internal/host"

// CounterAdd adds delta to the monotonic counter name, created on first use.
func CounterAdd(name string, delta uint64) { host.CounterAdd(name, delta) }

// GaugeSet sets the gauge name to value, created on first use.
func GaugeSet(name string, value float64) { host.GaugeSet(name, value) }
