package operator

// The Go garbage collector cannot run automatically inside a component.
//
// The runtime copies each call's arguments into the guest through the
// guest's cabi_realloc export, which allocates Go memory. An allocation may
// start a collection, and the collector reads the clock and may yield to the
// scheduler, which polls for events: both are WASI imports, and the
// component model forbids calling imports from cabi_realloc. The instance
// traps ("cannot leave component instance").
//
// So the SDK turns automatic collection off when the component starts
// (debug.SetGCPercent(-1)) and collects itself where imports are allowed:
// at the start of each call of the contract, every 256 records of the
// per-record loop, and whenever an output batch (about 1 MiB) is closed. It
// collects when the memory allocated since the last collection reaches half
// the live heap that collection found (what GOGC=50 does: an instance lives
// under a memory limit, so memory matters more than the collector's CPU),
// and at least gcMinBudget. The heap thus stays within about 1.5 times the
// live data plus what is allocated between two such points, whatever the
// size of a batch.
// An operator implementing BatchProcessor that allocates a lot without
// emitting can call runtime.GC() itself.
//
// Operator code must not re-enable the collector (debug.SetGCPercent) or set
// a memory limit (debug.SetMemoryLimit, GOMEMLIMIT): either lets a
// collection start inside cabi_realloc. Calling runtime.GC() from operator
// code is safe.

// gcMinBudget is the least allocation between two collections, so that a
// small heap is not collected on every call.
const gcMinBudget = 4 << 20

// gcPacer decides when to collect, from the cumulative bytes allocated and
// the live heap measured by the last collection.
type gcPacer struct {
	// allocsAtLastGC is the cumulative allocation when the last collection
	// finished.
	allocsAtLastGC uint64
	// budget is how much may be allocated before the next collection.
	budget uint64
	// collections counts the collections the pacer started.
	collections uint64
}

func newGCPacer() gcPacer {
	return gcPacer{budget: gcMinBudget}
}

// due tells whether a collection should run now, allocs being the
// cumulative bytes allocated so far.
func (p *gcPacer) due(allocs uint64) bool {
	return allocs-p.allocsAtLastGC >= p.budget
}

// collected records a finished collection: allocs is the cumulative
// allocation and live the live heap it found.
func (p *gcPacer) collected(allocs, live uint64) {
	p.allocsAtLastGC = allocs
	p.budget = max(live/2, gcMinBudget)
	p.collections++
}
