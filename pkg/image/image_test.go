package image

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

func open(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

func TestVerifyAndCheckLength(t *testing.T) {
	data := []byte("the layer's bytes")
	d, n := oci.Digest(data), int64(len(data))
	other := bytes.ToUpper(data) // same length, other digest
	for _, tc := range []struct {
		name string
		r    io.ReadCloser
		want string // "" = no error
	}{
		{"verify, right bytes", Verify(open(data), d, n, "x"), ""},
		{"verify, other bytes", Verify(open(other), d, n, "x"), "arrived with digest"},
		{"verify, short", Verify(open(data[:3]), d, n, "x"), "ended after 3"},
		{"verify, long", Verify(open(append(data, '!')), d, n, "x"), "more than the expected"},
		{"length, right bytes", CheckLength(open(data), d, n, "x"), ""},
		{"length, other bytes", CheckLength(open(other), d, n, "x"), ""},
		{"length, short", CheckLength(open(data[:3]), d, n, "x"), "ended after 3"},
		{"length, long", CheckLength(open(append(data, '!')), d, n, "x"), "more than the expected"},
		{"ensure over length, other bytes", Ensure(CheckLength(open(other), d, n, "x"), d, n, "x"), "arrived with digest"},
		{"ensure over length, right bytes", Ensure(CheckLength(open(data), d, n, "x"), d, n, "x"), ""},
		{"ensure over a plain reader", Ensure(open(other), d, n, "x"), "arrived with digest"},
	} {
		_, err := io.ReadAll(tc.r)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Ensure hashes nothing twice: a reader Verify already checks comes back
// as it is.
func TestEnsureKeepsVerified(t *testing.T) {
	data := []byte("abc")
	d := oci.Digest(data)
	v := Verify(open(data), d, 3, "x")
	if Ensure(v, d, 3, "x") != v {
		t.Error("Ensure wrapped a reader that Verify checks already")
	}
	if Ensure(v, oci.Digest([]byte("abd")), 3, "x") == v {
		t.Error("Ensure trusted a check against another digest")
	}
}
