package operator

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestKindsAndMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind ErrorKind
		msg  string
	}{
		{InvalidConfig("bad"), KindInvalidConfig, "bad"},
		{InvalidInput("bad"), KindInvalidInput, "bad"},
		{HostError("bad"), KindHost, "bad"},
		{Internal("bad"), KindInternal, "bad"},
		{InvalidInputf("row %d", 3), KindInvalidInput, "row 3"},
		{errors.New("plain"), KindInternal, "plain"},
		{fmt.Errorf("parsing row 3: %w", InvalidInput("not a number")), KindInvalidInput, "parsing row 3: not a number"},
		{fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", HostError("down"))), KindHost, "outer: inner: down"},
	} {
		got := asOperatorError(tc.err)
		if got.Kind != tc.kind || got.Message != tc.msg {
			t.Errorf("%v: got %v %q, want %v %q", tc.err, got.Kind, got.Message, tc.kind, tc.msg)
		}
	}
}

func TestErrorfWrapsItsCause(t *testing.T) {
	err := Errorf(KindInvalidInput, "reading: %w", io.ErrUnexpectedEOF)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("the cause is lost")
	}
	if err.Error() != "reading: unexpected EOF" || KindOf(err) != KindInvalidInput {
		t.Errorf("got %v (%v)", err, KindOf(err))
	}
}

type silent struct{}

func (silent) Error() string { return "" }

func TestAnErrorWithoutMessageStillSaysSomething(t *testing.T) {
	got := asOperatorError(silent{})
	if got.Kind != KindInternal || got.Message == "" {
		t.Errorf("got %+v", got)
	}
}

func TestKindNames(t *testing.T) {
	names := map[ErrorKind]string{KindInvalidConfig: "invalid-config", KindInvalidInput: "invalid-input", KindHost: "host", KindInternal: "internal"}
	for k, want := range names {
		if k.String() != want {
			t.Errorf("%d: got %s, want %s", k, k, want)
		}
	}
}
