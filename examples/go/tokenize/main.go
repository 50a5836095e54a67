// The tokenizer of the word-count example, in Go: splits each line of text
// into words. It follows the same rule as the Rust operator of
// examples/wordcount, and the job in this directory prints the same counts.
//
// Input: a column `line` (utf8). Output: one record per word, with the single
// column `word` (utf8, not null).
//
// A word is a maximal run of characters that are alphanumeric (Unicode
// Alphabetic or Numeric) or an apostrophe '. Leading and trailing
// apostrophes are trimmed, so quotes do not stick to words while "weir's"
// stays one word. Words left empty, and words shorter than minLength
// characters, are dropped. With lowercase, each character is lowercased
// before the length check.
//
// Configuration (all optional):
//
//	{"lowercase": true, "minLength": 1}
package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"weir.dev/operator"
)

type config struct {
	Lowercase bool `json:"lowercase"`
	MinLength uint `json:"minLength"`
}

type tokenize struct {
	line   int
	config config
	// lowered is reused for lowercased words, so that emitting a word
	// allocates nothing.
	lowered []byte
}

func open(ctx operator.OpenContext) (operator.Operator, operator.Schema, error) {
	cfg := config{Lowercase: true, MinLength: 1}
	if err := ctx.DecodeConfig(&cfg); err != nil {
		return nil, operator.Schema{}, err
	}
	line, err := ctx.InputSchema().IndexOf("line")
	if err != nil {
		return nil, operator.Schema{}, err
	}
	out := operator.NewSchema(operator.Field{Name: "word", Type: operator.Utf8})
	return &tokenize{line: line, config: cfg}, out, nil
}

func (t *tokenize) Process(rec operator.Record, out *operator.Output) error {
	text, ok, err := rec.OptUtf8(t.line)
	if err != nil || !ok {
		return err
	}
	return t.forEachWord(text, func(word operator.Value) error { return out.Emit(word) })
}

// isWordChar is Rust's char::is_alphanumeric (the Unicode properties
// Alphabetic or Numeric) or an apostrophe.
func isWordChar(r rune) bool {
	return r == '\'' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Other_Alphabetic, r)
}

// forEachWord calls emit with every word of text, following the rule above.
func (t *tokenize) forEachWord(text string, emit func(operator.Value) error) error {
	for len(text) > 0 {
		start := strings.IndexFunc(text, isWordChar)
		if start < 0 {
			return nil
		}
		text = text[start:]
		end := strings.IndexFunc(text, func(r rune) bool { return !isWordChar(r) })
		if end < 0 {
			end = len(text)
		}
		run := text[:end]
		text = text[end:]
		word := strings.Trim(run, "'")
		if word == "" {
			continue
		}
		var value operator.Value
		chars := 0
		if t.config.Lowercase {
			t.lowered = appendLower(t.lowered[:0], word)
			value = operator.Utf8BytesValue(t.lowered)
			chars = utf8.RuneCount(t.lowered)
		} else {
			value = operator.Utf8Value(word)
			chars = utf8.RuneCountInString(word)
		}
		if uint(chars) < t.config.MinLength {
			continue
		}
		if err := emit(value); err != nil {
			return err
		}
	}
	return nil
}

// appendLower appends the lowercase of s to dst, character by character as
// Rust's char::to_lowercase does: the full mappings of Unicode, where only
// U+0130 (capital I with dot above) becomes two characters.
func appendLower(dst []byte, s string) []byte {
	for _, r := range s {
		if r == '\u0130' {
			dst = append(dst, "i\u0307"...)
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

func init() { operator.Register(open) }

func main() {}
