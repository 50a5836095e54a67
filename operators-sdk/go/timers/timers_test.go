package timers

import (
	"strings"
	"testing"
	"time"

	"weir.dev/operator"
)

func TestTimersOutsideARuntime(t *testing.T) {
	err := Register(operator.Timer{Key: []byte{0}, Timestamp: 1})
	if operator.KindOf(err) != operator.KindHost || !strings.HasPrefix(err.Error(), "registering timers: unavailable: ") {
		t.Errorf("register: %v", err)
	}
	if err := Delete(operator.Timer{}); operator.KindOf(err) != operator.KindHost {
		t.Errorf("delete: %v", err)
	}
	if _, ok := CurrentWatermark(); ok {
		t.Error("a watermark outside a runtime")
	}
	if now := CurrentProcessingTime(); now < time.Now().Add(-time.Minute).UnixMilli() {
		t.Errorf("processing time %d is not the clock", now)
	}
}
