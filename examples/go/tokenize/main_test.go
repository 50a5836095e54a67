package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"weir.dev/operator"
)

var lineSchema = operator.NewSchema(operator.Field{Name: "line", Type: operator.Utf8, Nullable: true})

func openWith(t *testing.T, configJSON string) (*tokenize, operator.Schema) {
	t.Helper()
	op, schema, err := open(operator.NewOpenContext("tokenize", lineSchema).WithConfig(configJSON))
	if err != nil {
		t.Fatalf("open(%s): %v", configJSON, err)
	}
	return op.(*tokenize), schema
}

func words(t *testing.T, op *tokenize, text string) []string {
	t.Helper()
	var got []string
	err := op.forEachWord(text, func(v operator.Value) error {
		s, _ := v.AsUtf8()
		got = append(got, strings.Clone(s))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSplitsOnEverythingButLettersDigitsAndApostrophes(t *testing.T) {
	op, _ := openWith(t, "{}")
	if got, want := words(t, op, "The weir's 'gate', mill-race & 1890s!"), []string{"the", "weir's", "gate", "mill", "race", "1890s"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := words(t, op, " '' -- ' "); len(got) != 0 {
		t.Errorf("got %q, want no words", got)
	}
}

func TestKeepsCaseAndDropsShortWordsWhenAsked(t *testing.T) {
	op, _ := openWith(t, `{"lowercase": false, "minLength": 3}`)
	if got, want := words(t, op, "A Weir on the Río"), []string{"Weir", "the", "Río"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLowercasesAsRustDoes(t *testing.T) {
	op, _ := openWith(t, `{"minLength": 2}`)
	// U+0130 lowercases to two characters, so it passes minLength 2.
	if got, want := words(t, op, "İ ΣΑΣ Ǆ"), []string{"i\u0307", "σασ"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct{ config, mentions string }{
		{`{"lowercase": true, "minLen": 2}`, "minLen"},
		{`{"minLength": -1}`, "minLength"},
		{`{"lowercase": "yes"}`, "lowercase"},
	} {
		_, _, err := open(operator.NewOpenContext("tokenize", lineSchema).WithConfig(tc.config))
		if operator.KindOf(err) != operator.KindInvalidConfig || !strings.Contains(err.Error(), tc.mentions) {
			t.Errorf("config %s: got %v (kind %v), want an invalid-config error naming %s", tc.config, err, operator.KindOf(err), tc.mentions)
		}
	}
}

func TestNeedsALineColumn(t *testing.T) {
	schema := operator.NewSchema(operator.Field{Name: "text", Type: operator.Utf8})
	_, _, err := open(operator.NewOpenContext("tokenize", schema))
	if operator.KindOf(err) != operator.KindInvalidConfig || !strings.Contains(err.Error(), "line") {
		t.Errorf("got %v, want an invalid-config error naming the column", err)
	}
}

func TestTokenizesABatch(t *testing.T) {
	op, outSchema := openWith(t, "{}")
	out := operator.NewOutput(outSchema)
	for _, v := range []operator.Value{operator.Utf8Value("Water, water!"), operator.Null(), operator.Utf8Value("Weir")} {
		if err := op.Process(operator.NewRecord(lineSchema, v), out); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := out.Records()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		s, _ := r[0].AsUtf8()
		got = append(got, s)
	}
	if want := []string{"water", "water", "weir"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The counts of the example's input must be those of expected.txt, which was
// computed separately from the rule.
func TestAgreesWithTheExpectedCountsOfTheExample(t *testing.T) {
	input, err := os.ReadFile("../../wordcount/input.txt")
	if err != nil {
		t.Fatal(err)
	}
	expected, err := os.ReadFile("../../wordcount/expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	op, _ := openWith(t, "{}")
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(input), "\n"), "\n") {
		for _, w := range words(t, op, strings.TrimSuffix(line, "\r")) {
			counts[w]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s\t%d\n", k, counts[k])
	}
	if b.String() != string(expected) {
		t.Errorf("counts differ from expected.txt:\n%s", b.String())
	}
}
