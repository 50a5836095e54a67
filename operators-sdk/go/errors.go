package operator

import (
	"errors"
	"fmt"
)

// ErrorKind tells the runtime what to do about a failed call. It mirrors
// `error-kind` of the WIT contract.
type ErrorKind uint8

const (
	// KindInvalidConfig: the configuration is unusable. Restarting cannot
	// help, so the job fails at once.
	KindInvalidConfig ErrorKind = iota
	// KindInvalidInput: a record could not be processed (bad value,
	// unparsable text). The task fails; the restart strategy applies.
	KindInvalidInput
	// KindHost: a host call (state, timers) failed and the operator gave up.
	KindHost
	// KindInternal: anything else, a bug or an unexpected condition. Every
	// error that is not an *Error, and every panic, has this kind.
	KindInternal
)

// String is the kind's name as the WIT contract spells it.
func (k ErrorKind) String() string {
	switch k {
	case KindInvalidConfig:
		return "invalid-config"
	case KindInvalidInput:
		return "invalid-input"
	case KindHost:
		return "host"
	case KindInternal:
		return "internal"
	default:
		return fmt.Sprintf("ErrorKind(%d)", uint8(k))
	}
}

// Error is an error of a given kind. Return one (or wrap one with
// fmt.Errorf's %w) from an operator to choose the kind the runtime sees; any
// other error is reported as internal. Either way the message the runtime
// shows is the returned error's Error() text.
type Error struct {
	Kind    ErrorKind
	Message string
	// cause is the error an Errorf format wrapped with %w, if any.
	cause error
}

func (e *Error) Error() string { return e.Message }

// Unwrap is the error wrapped with %w by Errorf, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf is an error of kind with a formatted message. A %w verb wraps an
// error as fmt.Errorf does, for errors.Is and errors.As.
func Errorf(kind ErrorKind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: err.Error(), cause: errors.Unwrap(err)}
}

// InvalidConfig is an invalid-config error: the operator's configuration is
// unusable. Return it from the open function; the job fails without
// restarting.
func InvalidConfig(message string) error { return &Error{Kind: KindInvalidConfig, Message: message} }

// InvalidInput is an invalid-input error: a record could not be processed.
func InvalidInput(message string) error { return &Error{Kind: KindInvalidInput, Message: message} }

// HostError is a host error: a state or timer call failed. The state and
// timers packages return such errors themselves.
func HostError(message string) error { return &Error{Kind: KindHost, Message: message} }

// Internal is an internal error: a bug or an unexpected condition.
func Internal(message string) error { return &Error{Kind: KindInternal, Message: message} }

// InvalidConfigf is InvalidConfig with a formatted message.
func InvalidConfigf(format string, args ...any) error {
	return Errorf(KindInvalidConfig, format, args...)
}

// InvalidInputf is InvalidInput with a formatted message.
func InvalidInputf(format string, args ...any) error {
	return Errorf(KindInvalidInput, format, args...)
}

// HostErrorf is HostError with a formatted message.
func HostErrorf(format string, args ...any) error { return Errorf(KindHost, format, args...) }

// Internalf is Internal with a formatted message.
func Internalf(format string, args ...any) error { return Errorf(KindInternal, format, args...) }

// KindOf is the kind the runtime sees for err: that of the first *Error in
// its chain, else KindInternal.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// asOperatorError turns whatever an operator returned into the kind and
// message the runtime receives.
func asOperatorError(err error) *Error {
	msg := err.Error()
	if msg == "" {
		msg = fmt.Sprintf("the operator failed with an error of type %T and no message", err)
	}
	return &Error{Kind: KindOf(err), Message: msg}
}
