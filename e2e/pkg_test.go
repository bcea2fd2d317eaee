//go:build e2e

package e2e

import (
	"archive/tar"
	"io"
	"strings"
	"testing"
)

// layer_from_pkg: rules_pkg's pkg_files, pkg_mklink, pkg_mkdirs and
// pkg_filegroup become one layer with the modes, owners and links they
// declare, and the image runs in containerd through the link.
func TestLayerFromPkg(t *testing.T) {
	layout := layoutOf(t, ws, "//pkg:image")
	var m manifest
	readJSON(t, blobPath(layout, rootOf(t, layout).Digest), &m)
	if len(m.Layers) != 1 {
		t.Fatalf("want one layer, got %d", len(m.Layers))
	}
	headers := map[string]*tar.Header{}
	walkLayer(t, blobPath(layout, m.Layers[0].Digest), m.Layers[0].MediaType, func(h *tar.Header, _ io.Reader) {
		headers[h.Name] = h
	})
	for name, want := range map[string]struct {
		typ          byte
		mode         int64
		uid          int
		uname, gname string
		link         string
	}{
		"usr/local/bin/hello":    {tar.TypeReg, 0o755, 0, "", "", ""},
		"etc/hello/greeting.txt": {tar.TypeReg, 0o640, 0, "app", "app", ""},
		"usr/bin/hello":          {tar.TypeSymlink, 0o777, 0, "", "", "/usr/local/bin/hello"},
		"var/log/hello/":         {tar.TypeDir, 0o700, 1000, "", "", ""},
	} {
		h := headers[name]
		if h == nil {
			t.Errorf("%s: not in the layer (it has %d entries)", name, len(headers))
			continue
		}
		if h.Typeflag != want.typ || h.Mode != want.mode || h.Uid != want.uid || h.Uname != want.uname || h.Gname != want.gname || h.Linkname != want.link {
			t.Errorf("%s: type %c mode %o uid %d owner %s:%s link %q; want type %c mode %o uid %d owner %s:%s link %q",
				name, h.Typeflag, h.Mode, h.Uid, h.Uname, h.Gname, h.Linkname,
				want.typ, want.mode, want.uid, want.uname, want.gname, want.link)
		}
	}
	if len(headers) != 4 {
		t.Errorf("layer has %d entries, want the 4 the rules declare", len(headers))
	}

	// The entrypoint is the link; the greeting is read as root despite 0640.
	out := runLayout(t, layout, "docker.io/library/pkg:e2e")
	if want := "hello, rules_img from linux/amd64 args="; strings.TrimSpace(out) != want {
		t.Errorf("container printed %q, want %q", out, want)
	}
}
