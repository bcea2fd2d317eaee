package layer

import (
	"io"
	"os"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
)

func TestProfileBuild(t *testing.T) {
	alg := os.Getenv("PROF_ALG")
	if alg == "" {
		t.Skip()
	}
	s := mustParse(t, `{"target": "//bench:layer", "create_parent_directories": true, "entries": [{"path": "/data", "type": "tree", "source": "/var/cache/rules_img/bench/tree"}]}`)
	f, _ := os.Create("/var/cache/rules_img/bench/out/prof.blob")
	defer f.Close()
	jobs := 2
	if alg == "none" {
		jobs = 1
	}
	if _, err := Build(s, io.Writer(f), compress.Options{Algorithm: alg, Level: -1, Jobs: jobs}); err != nil {
		t.Fatal(err)
	}
}
