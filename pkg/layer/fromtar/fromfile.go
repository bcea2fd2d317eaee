package fromtar

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// FromFile describes any file as a layer blob, as it is: OCI artifacts such
// as Helm charts or WASM modules. Its diffID is its digest, unless diffID is
// set: then the file is a tar (plain, gzip or zstd) and the diffID is the
// digest of its uncompressed bytes.
func FromFile(path string, mediaType oci.MediaType, diffID bool) (oci.LayerMetadata, error) {
	m := oci.LayerMetadata{MediaType: mediaType}
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return m, err
	}
	m.Digest, m.Size = "sha256:"+hex.EncodeToString(h.Sum(nil)), n
	m.DiffID = m.Digest
	if !diffID {
		return m, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return m, err
	}
	br := bufio.NewReader(f)
	head, _ := br.Peek(4)
	algorithm := compress.Detect(head)
	if algorithm == compress.None {
		return m, nil // uncompressed: the diffID is the digest
	}
	r, err := compress.NewReader(br, algorithm)
	if err != nil {
		return m, fmt.Errorf("diff_id: %w", err)
	}
	defer r.Close()
	h.Reset()
	if _, err := io.Copy(h, r); err != nil {
		return m, fmt.Errorf("diff_id: decompressing the %s file: %w", algorithm, err)
	}
	m.DiffID = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return m, nil
}
