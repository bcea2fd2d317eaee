package layer

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/tartest"
)

// TestChangedSizeWhileWriting: a file that is longer or shorter than it was
// when the layer was planned fails the layer, naming the file, whether it
// was read ahead (small), streamed, or compared by the deduper.
func TestChangedSizeWhileWriting(t *testing.T) {
	big := strings.Repeat("b", prefixLen+100)
	for _, tc := range []struct{ name, content string }{
		{"small", "small file"},
		{"big", big},
		{"dup-a", big + "x"},
	} {
		for _, grow := range []bool{true, false} {
			dir := t.TempDir()
			tartest.WriteFiles(t, dir, map[string]string{tc.name: tc.content, "dup-b": big + "x"})
			s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t", "entries": [
			  {"path": "/f", "type": "file", "source": "$D/`+tc.name+`"},
			  {"path": "/g", "type": "file", "source": "$D/dup-b"}]}`))
			items, err := plan(s)
			if err != nil {
				t.Fatal(err)
			}
			changed := tc.content[:len(tc.content)-1]
			if grow {
				changed = tc.content + "more"
			}
			if err := os.WriteFile(filepath.Join(dir, tc.name), []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			err = writeTar(io.Discard, s, items)
			if err == nil || !strings.Contains(err.Error(), errChangedSize.Error()) || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("%s (grow %v): %v, want %q naming the file", tc.name, grow, err, errChangedSize)
			}
		}
	}
}
