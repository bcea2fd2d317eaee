package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/rules-img/rules_img/pkg/image"
)

func TestSnapshotRefsAreChainIDs(t *testing.T) {
	m := image.Manifest{Layers: []image.Layer{{DiffID: "sha256:aa"}, {DiffID: "sha256:bb"}}}
	labels := snapshotRefs(m)
	sum := sha256.Sum256([]byte("sha256:aa sha256:bb"))
	want := "sha256:" + hex.EncodeToString(sum[:])
	for _, sn := range []string{"overlayfs", "native"} {
		if got := labels["containerd.io/gc.ref.snapshot."+sn+"/rules_img.0"]; got != "sha256:aa" {
			t.Errorf("%s layer 0: %q", sn, got)
		}
		if got := labels["containerd.io/gc.ref.snapshot."+sn+"/rules_img.1"]; got != want {
			t.Errorf("%s layer 1: %q, want %s", sn, got, want)
		}
	}
}
