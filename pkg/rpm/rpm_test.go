package rpm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/debtest"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	p := debtest.WriteRPM(t, dir, "corp-ca", []debtest.RPMFile{
		{Name: "./etc/pki/ca-trust/source/anchors/corp.pem", Body: "PEM"},
		{Name: "./usr/share/doc/corp-ca/README", Body: "odd length!"},
		{Name: "./etc/pki/ca-trust/source/anchors/other.pem", Body: "PEM2"},
	})
	got, err := Files(p, func(n string) bool { return strings.HasPrefix(n, "etc/pki/") })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["etc/pki/ca-trust/source/anchors/corp.pem"]) != "PEM" || string(got["etc/pki/ca-trust/source/anchors/other.pem"]) != "PEM2" {
		t.Errorf("Files = %q", got)
	}
	junk := filepath.Join(dir, "junk.rpm")
	os.WriteFile(junk, []byte("!<arch>\nnot an rpm"), 0o644)
	if _, err := Files(junk, func(string) bool { return true }); err == nil || !strings.Contains(err.Error(), "not an RPM package") {
		t.Errorf("junk: %v", err)
	}
}
