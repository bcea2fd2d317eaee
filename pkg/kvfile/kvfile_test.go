package kvfile

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseForms(t *testing.T) {
	want := map[string]string{"A": "1", "B": "x=y z"}
	for _, in := range []string{
		`{"A": "1", "B": "x=y z"}`,
		`{"A": ["0", "1"], "B": ["x=y z"]}`,
		`["A=1", " B = x=y z "]`,
		"# comment\nA=1\n\n  B = x=y z  \r\n",
	} {
		got, err := Parse([]byte(in))
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	// JSON object values are verbatim: spaces and newlines stay.
	if got, _ := Parse([]byte(`{"K": " a\nb "}`)); got["K"] != " a\nb " {
		t.Errorf("verbatim value = %q", got["K"])
	}
	for in, msg := range map[string]string{
		"A=1\nnot a pair\n": `line 2: "not a pair" is not KEY=VALUE`,
		`{"A": 3}`:          `key "A": want a string or a non-empty list of strings, got 3`,
		`{"A": []}`:         `key "A": want a string`,
		`["A=1", "=2"]`:     `item 1: "=2" is not KEY=VALUE`,
		`{"A": "1"`:         "not a JSON object",
		`[1, 2]`:            "not a JSON array",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Parse(%q) error %v, want %q", in, err, msg)
		}
	}
}
