// The Go stage of the mixed-language example: adds each word's length.
//
// Input: a utf8 column `word`. Output: `word` (utf8) and `length` (int64,
// the word's length in characters).
package main

import (
	"unicode/utf8"

	"weir.dev/operator"
)

type wordlen struct {
	word int
}

func open(ctx operator.OpenContext) (operator.Operator, operator.Schema, error) {
	word, err := ctx.InputSchema().IndexOf("word")
	if err != nil {
		return nil, operator.Schema{}, err
	}
	out := operator.NewSchema(
		operator.Field{Name: "word", Type: operator.Utf8},
		operator.Field{Name: "length", Type: operator.Int64},
	)
	return &wordlen{word: word}, out, nil
}

func (w *wordlen) Process(rec operator.Record, out *operator.Output) error {
	word, err := rec.Utf8(w.word)
	if err != nil {
		return err
	}
	return out.Emit(operator.Utf8Value(word), operator.Int64Value(int64(utf8.RuneCountInString(word))))
}

func init() { operator.Register(open) }

func main() {}
