package log

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestSlogRecordsBecomeOneLine(t *testing.T) {
	h := NewHandler().WithAttrs([]slog.Attr{slog.String("op", "tok")}).WithGroup("batch")
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "processed", 0)
	r.AddAttrs(slog.Int("rows", 3), slog.Group("keys", slog.Int("distinct", 2)), slog.Attr{})
	got := h.(*handler).format(r)
	if want := "processed op=tok batch.rows=3 batch.keys.distinct=2"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if !h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("outside a runtime every level is enabled")
	}
}

func TestSlogLevelsMapToTheNearestRuntimeLevel(t *testing.T) {
	for l, want := range map[slog.Level]Level{
		slog.LevelDebug - 4: LevelTrace,
		slog.LevelDebug:     LevelDebug,
		slog.LevelInfo:      LevelInfo,
		slog.LevelInfo + 2:  LevelInfo,
		slog.LevelWarn:      LevelWarn,
		slog.LevelError:     LevelError,
		slog.LevelError + 4: LevelError,
	} {
		if got := levelOf(l); got != want {
			t.Errorf("%v: got %v, want %v", l, got, want)
		}
	}
}
