package operator

import "testing"

func TestPacerCollectsWhenAllocationReachesHalfTheLiveHeap(t *testing.T) {
	p := newGCPacer()
	if p.due(gcMinBudget - 1) {
		t.Error("due before the minimum budget")
	}
	if !p.due(gcMinBudget) {
		t.Error("not due at the minimum budget")
	}
	// A collection at 10 MiB allocated finds 20 MiB live: the next one is
	// due once another 10 MiB (half the live heap) are allocated.
	p.collected(10<<20, 20<<20)
	if p.due(10<<20 + 10<<20 - 1) {
		t.Error("due before half the live heap was allocated")
	}
	if !p.due(10<<20 + 10<<20) {
		t.Error("not due after half the live heap was allocated")
	}
	// A small live heap falls back to the minimum budget.
	p.collected(40<<20, 1<<10)
	if p.due(40<<20+gcMinBudget-1) || !p.due(40<<20+gcMinBudget) {
		t.Error("the minimum budget does not apply to small heaps")
	}
	if p.collections != 2 {
		t.Errorf("%d collections", p.collections)
	}
}
