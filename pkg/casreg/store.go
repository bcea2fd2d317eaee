package casreg

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// store keeps what the CAS cannot: manifests, tags, which repository holds
// which manifest, and the size of each blob digest it has heard of (REAPI
// addresses a blob by digest and size, a registry by digest alone). Every
// write is a file renamed into place, so a crash or restart loses nothing
// that was acknowledged.
//
//	DIR/manifests/HEX        manifest bytes
//	DIR/manifests/HEX.type   its media type
//	DIR/sizes/HEX            a blob's size, in decimal
//	DIR/repos/REPO/_manifests/HEX
//	DIR/repos/REPO/_tags/TAG  the digest it names
//	DIR/uploads/ID           blob uploads in progress (cleared at start)
type store struct{ dir string }

func openStore(dir string) (*store, error) {
	// Upload sessions do not outlive the process: a client whose session
	// is gone starts its upload again.
	if err := os.RemoveAll(filepath.Join(dir, "uploads")); err != nil {
		return nil, fmt.Errorf("registry data directory: %w", err)
	}
	for _, sub := range []string{"manifests", "sizes", "repos", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("registry data directory: %w", err)
		}
	}
	return &store{dir: dir}, nil
}

// hexOf returns the hex of a valid digest; callers check it first.
func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

func (s *store) setSize(digest string, size int64) error {
	p := filepath.Join(s.dir, "sizes", hexOf(digest))
	if old, ok := s.size(digest); ok && old == size {
		return nil
	}
	return writeFile(p, []byte(strconv.FormatInt(size, 10)))
}

func (s *store) size(digest string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, "sizes", hexOf(digest)))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil && n >= 0
}

// putManifest stores raw under its digest in repo, and tags it when tag is
// not "".
func (s *store) putManifest(repo, tag, digest string, mediaType oci.MediaType, raw []byte) error {
	h := hexOf(digest)
	base := filepath.Join(s.dir, "manifests", h)
	if err := writeFile(base+".type", []byte(mediaType)); err != nil {
		return err
	}
	if err := writeFile(base, raw); err != nil {
		return err
	}
	rdir := filepath.Join(s.dir, "repos", filepath.FromSlash(repo))
	if err := os.MkdirAll(filepath.Join(rdir, "_manifests"), 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(rdir, "_manifests", h), nil); err != nil {
		return err
	}
	if tag == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(rdir, "_tags"), 0o755); err != nil {
		return err
	}
	return writeFile(filepath.Join(rdir, "_tags", tag), []byte(digest))
}

// resolve turns a tag or digest of repo into a digest; "" when unknown.
func (s *store) resolve(repo, ref string) string {
	rdir := filepath.Join(s.dir, "repos", filepath.FromSlash(repo))
	if oci.CheckDigest(ref) != nil {
		b, err := os.ReadFile(filepath.Join(rdir, "_tags", ref))
		if err != nil || oci.CheckDigest(string(b)) != nil {
			return ""
		}
		return string(b)
	}
	if _, err := os.Stat(filepath.Join(rdir, "_manifests", hexOf(ref))); err != nil {
		return ""
	}
	return ref
}

// manifest returns the bytes and media type stored under digest.
func (s *store) manifest(digest string) ([]byte, oci.MediaType, error) {
	base := filepath.Join(s.dir, "manifests", hexOf(digest))
	mt, err := os.ReadFile(base + ".type")
	if err != nil {
		return nil, "", err
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		return nil, "", err
	}
	return raw, oci.MediaType(mt), nil
}

// hasManifest reports whether any repository holds digest.
func (s *store) hasManifest(digest string) bool {
	_, err := os.Stat(filepath.Join(s.dir, "manifests", hexOf(digest)))
	return err == nil
}

// tags lists repo's tags, sorted; nil, false for a repository never pushed.
func (s *store) tags(repo string) ([]string, bool) {
	rdir := filepath.Join(s.dir, "repos", filepath.FromSlash(repo))
	if _, err := os.Stat(filepath.Join(rdir, "_manifests")); err != nil {
		return nil, false
	}
	ents, err := os.ReadDir(filepath.Join(rdir, "_tags"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	tags := []string{}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			tags = append(tags, e.Name())
		}
	}
	sort.Strings(tags)
	return tags, true
}

func (s *store) uploadPath(id string) string { return filepath.Join(s.dir, "uploads", id) }

// writeFile writes b to path through a temp file of its own and a rename.
// Unlike atomicfile's fixed PATH.partial, the temp name is unique, so
// concurrent writers of one path (pushes of a layer many images share)
// each succeed; a reader never sees part of a file.
func writeFile(path string, b []byte) error {
	return writeFrom(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func writeFrom(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
