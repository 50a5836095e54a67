package operator

import (
	"strings"
	"testing"
)

type testConfig struct {
	Lowercase bool                `json:"lowercase"`
	MinLength uint                `json:"minLength"`
	Prefix    string              `json:"prefix"`
	FailOnID  *int64              `json:"failOnId"`
	Ratio     float64             `json:"ratio"`
	Nested    struct{ Depth int } `json:"nested"`
}

func decode(t *testing.T, configJSON string) (testConfig, error) {
	t.Helper()
	cfg := testConfig{Lowercase: true, MinLength: 1}
	err := NewOpenContext("tok", Schema{}).WithConfig(configJSON).DecodeConfig(&cfg)
	return cfg, err
}

func TestDecodeConfigKeepsDefaults(t *testing.T) {
	for _, text := range []string{"{}", "", "  "} {
		cfg, err := decode(t, text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if !cfg.Lowercase || cfg.MinLength != 1 || cfg.FailOnID != nil {
			t.Errorf("%q: defaults lost: %+v", text, cfg)
		}
	}
	cfg, err := decode(t, `{"lowercase": false, "failOnId": 7, "prefix": "t:"}`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Lowercase || cfg.MinLength != 1 || cfg.FailOnID == nil || *cfg.FailOnID != 7 || cfg.Prefix != "t:" {
		t.Errorf("got %+v", cfg)
	}
}

func TestDecodeConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{"minLen": 2}`, "invalid config of operator `tok`: unknown field `minLen`"},
		{`{"minLength": -1}`, "invalid config of operator `tok`: field `minLength`: expected a non-negative integer, found JSON number -1"},
		{`{"failOnId": 1.5}`, "field `failOnId`: expected an integer, found JSON number 1.5"},
		{`{"prefix": 3}`, "field `prefix`: expected a string, found JSON number"},
		{`{"lowercase": "yes"}`, "field `lowercase`: expected a boolean, found JSON string"},
		{`{"nested": {"Depth": "x"}}`, "field `nested.Depth`: expected an integer, found JSON string"},
		{`[1]`, "invalid config of operator `tok`: expected an object, found JSON array"},
		{`{"prefix": "a"} {}`, "unexpected data after the configuration object"},
		{`{"prefix": `, "unexpected EOF"},
		{`{prefix}`, "not valid JSON at byte 2"},
	} {
		_, err := decode(t, tc.config)
		if KindOf(err) != KindInvalidConfig || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s:\n got %v (kind %v)\nwant invalid-config containing %q", tc.config, err, KindOf(err), tc.want)
		}
	}
}

func TestContextAccessors(t *testing.T) {
	schema := NewSchema(Field{Name: "a", Type: Int64}, Field{Name: "b", Type: Utf8})
	ctx := NewOpenContext("op", schema).WithKeyFields("b", "a").WithSubtask(2, 4).WithAttempt(1)
	if ctx.OperatorName() != "op" || ctx.ConfigJSON() != "{}" || ctx.SubtaskIndex() != 2 || ctx.Parallelism() != 4 || ctx.Attempt() != 1 {
		t.Errorf("got %+v", ctx)
	}
	idx, err := ctx.KeyIndexes()
	if err != nil || len(idx) != 2 || idx[0] != 1 || idx[1] != 0 {
		t.Errorf("KeyIndexes = %v, %v", idx, err)
	}
	_, err = ctx.WithKeyFields("c").KeyIndexes()
	if KindOf(err) != KindInvalidConfig || !strings.Contains(err.Error(), "no column `c`; its columns are: `a` (int64), `b` (utf8)") {
		t.Errorf("got %v", err)
	}
}
