package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// OpenContext is what the runtime tells an operator instance when it opens:
// its configuration, input schema and place in the job.
type OpenContext struct {
	operatorName string
	config       string
	inputSchema  Schema
	keyFields    []string
	subtaskIndex int
	parallelism  int
	attempt      int
}

// NewOpenContext is a context as the runtime would pass it for the first run
// of subtask 0 of 1, with an empty configuration and no key. Useful to test
// operators natively; adjust it with the With methods.
func NewOpenContext(operatorName string, inputSchema Schema) OpenContext {
	return OpenContext{operatorName: operatorName, config: "{}", inputSchema: inputSchema, parallelism: 1}
}

// WithConfig is the context with the configuration configJSON.
func (c OpenContext) WithConfig(configJSON string) OpenContext {
	c.config = configJSON
	return c
}

// WithKeyFields is the context with the key columns fields.
func (c OpenContext) WithKeyFields(fields ...string) OpenContext {
	c.keyFields = fields
	return c
}

// WithSubtask is the context of subtask index of parallelism.
func (c OpenContext) WithSubtask(index, parallelism int) OpenContext {
	c.subtaskIndex, c.parallelism = index, parallelism
	return c
}

// WithAttempt is the context of restart attempt n.
func (c OpenContext) WithAttempt(n int) OpenContext {
	c.attempt = n
	return c
}

// OperatorName is the operator's name in the job spec.
func (c OpenContext) OperatorName() string { return c.operatorName }

// ConfigJSON is the operator's configuration from the job spec as JSON text
// (`{}` when the spec has none).
func (c OpenContext) ConfigJSON() string { return c.config }

// InputSchema is the schema of the batches the operator will receive.
func (c OpenContext) InputSchema() Schema { return c.inputSchema }

// KeyFields are the columns the input is keyed by, in order (empty when the
// input is not keyed). Keyed state and timers need a keyed input.
func (c OpenContext) KeyFields() []string { return c.keyFields }

// KeyIndexes are the input column indexes of KeyFields, for state.KeyOf.
func (c OpenContext) KeyIndexes() ([]int, error) {
	out := make([]int, len(c.keyFields))
	for i, name := range c.keyFields {
		idx, err := c.inputSchema.IndexOf(name)
		if err != nil {
			return nil, err
		}
		out[i] = idx
	}
	return out, nil
}

// SubtaskIndex is this instance's subtask, from 0 to Parallelism()-1.
func (c OpenContext) SubtaskIndex() int { return c.subtaskIndex }

// Parallelism is how many instances of the operator run in parallel.
func (c OpenContext) Parallelism() int { return c.parallelism }

// Attempt is how many times the task has been restarted (0 on the first run).
func (c OpenContext) Attempt() int { return c.attempt }

// DecodeConfig parses the operator's configuration into v, a pointer to a
// struct (or anything encoding/json decodes into).
//
// Fields absent from the configuration keep the values v already holds, so
// set defaults before calling. Unknown fields are rejected, which catches
// typos in job specs. Every failure is an invalid-config error naming the
// operator and the offending field, so the job fails before any record flows.
func (c OpenContext) DecodeConfig(v any) error {
	text := strings.TrimSpace(c.config)
	if text == "" {
		text = "{}"
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One JSON value, nothing after it.
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the configuration object")
		}
	}
	if err != nil {
		return InvalidConfigf("invalid config of operator `%s`: %s", c.operatorName, describeJSONError(err))
	}
	return nil
}

// describeJSONError rewords encoding/json's errors so that they name the
// field in the job spec's terms rather than Go's.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("field `%s`: expected %s, found JSON %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
		}
		return fmt.Sprintf("expected %s, found JSON %s", jsonKind(typeErr.Type), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	}
	msg := err.Error()
	// `json: unknown field "x"`, which the runtime should show as the
	// field's name without Go's package prefix.
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field `" + strings.Trim(rest, `"`) + "`"
	}
	return strings.TrimPrefix(msg, "json: ")
}

// jsonKind names the kind of JSON value that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return t.String()
	}
}
