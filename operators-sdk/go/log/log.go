// Package log writes into the Weir runtime's logs, attributed to the
// operator instance.
//
// The runtime rate-limits what an instance may log, so log per batch or on
// rare events rather than per record, and check Enabled before formatting an
// expensive message. Standard output and standard error (fmt.Println, the
// standard library's log package) reach the same logs, at info and warn.
// Outside a Weir runtime (native unit tests) messages go to stderr.
package log

import (
	"fmt"

	"weir.dev/operator/internal/host"
)

// Level is the severity of a log event.
type Level uint8

const (
	LevelTrace Level = Level(host.LevelTrace)
	LevelDebug Level = Level(host.LevelDebug)
	LevelInfo  Level = Level(host.LevelInfo)
	LevelWarn  Level = Level(host.LevelWarn)
	LevelError Level = Level(host.LevelError)
)

func (l Level) String() string { return host.Level(l).String() }

// Log writes one log event.
func Log(level Level, message string) { host.Log(host.Level(level), message) }

// Logf writes one log event with a formatted message, formatting it only if
// the runtime keeps events of level.
func Logf(level Level, format string, args ...any) {
	if Enabled(level) {
		Log(level, fmt.Sprintf(format, args...))
	}
}

// Enabled tells whether an event of level would be kept, so that a message
// nobody reads need not be formatted.
func Enabled(level Level) bool { return host.LogEnabled(host.Level(level)) }

func Trace(message string) { Log(LevelTrace, message) }
func Debug(message string) { Log(LevelDebug, message) }
func Info(message string)  { Log(LevelInfo, message) }
func Warn(message string)  { Log(LevelWarn, message) }
func Error(message string) { Log(LevelError, message) }

func Tracef(format string, args ...any) { Logf(LevelTrace, format, args...) }
func Debugf(format string, args ...any) { Logf(LevelDebug, format, args...) }
func Infof(format string, args ...any)  { Logf(LevelInfo, format, args...) }
func Warnf(format string, args ...any)  { Logf(LevelWarn, format, args...) }
func Errorf(format string, args ...any) { Logf(LevelError, format, args...) }
