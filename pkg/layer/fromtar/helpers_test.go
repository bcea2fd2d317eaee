package fromtar

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/layer"
)

// specTar is the uncompressed tar pkg/layer writes for a spec: the input
// these tests turn back into layers.
func specTar(t *testing.T, js string) []byte {
	t.Helper()
	s, err := layer.ParseSpec(strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := layer.Write(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
