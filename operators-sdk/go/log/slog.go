package log

import (
	"context"
	"log/slog"
	"strings"
)

// NewHandler is a slog.Handler writing to the runtime's logs, for code that
// logs through log/slog:
//
//	logger := slog.New(log.NewHandler())
//	logger.Info("loaded rules", "count", 42)
//
// Records become one event each, the message followed by the attributes as
// key=value pairs. slog's levels map to the nearest runtime level (below
// debug is trace).
func NewHandler() slog.Handler {
	return &handler{}
}

type handler struct {
	// prefix holds the attributes added by WithAttrs, already formatted.
	prefix string
	group  string
}

func levelOf(l slog.Level) Level {
	switch {
	case l < slog.LevelDebug:
		return LevelTrace
	case l < slog.LevelInfo:
		return LevelDebug
	case l < slog.LevelWarn:
		return LevelInfo
	case l < slog.LevelError:
		return LevelWarn
	default:
		return LevelError
	}
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return Enabled(levelOf(l)) }

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	Log(levelOf(r.Level), h.format(r))
	return nil
}

// format is the event's text: the message, then every attribute as
// key=value, group names joined with dots.
func (h *handler) format(r slog.Record) string {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		h.appendAttr(&b, h.group, a)
		return true
	})
	return b.String()
}

func (h *handler) appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			group = joinGroup(group, a.Key)
		}
		for _, ga := range a.Value.Group() {
			h.appendAttr(b, group, ga)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(joinGroup(group, a.Key))
	b.WriteByte('=')
	b.WriteString(a.Value.String())
}

func joinGroup(group, key string) string {
	if group == "" {
		return key
	}
	return group + "." + key
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		h.appendAttr(&b, h.group, a)
	}
	return &handler{prefix: b.String(), group: h.group}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{prefix: h.prefix, group: joinGroup(h.group, name)}
}
