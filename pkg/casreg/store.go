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
	"sync"

	"github.com/rules-img/rules_img/pkg/oci"
)

// store keeps what the CAS cannot: manifests, tags, which repository holds
// which manifest, and the size of each blob digest it has heard of (REAPI
// addresses a blob by digest and size, a registry by digest alone). Every
// write is a file synced and renamed into place, so a crash or restart loses
// nothing that was acknowledged.
//
//	DIR/manifests/HEX        manifest bytes (content-addressed, shared)
//	DIR/sizes/HEX            a blob's size in decimal, then " verified" when
//	                         an upload or a hash-checked read proved it
//	DIR/repos/REPO/_manifests/HEX  the manifest's media type in REPO
//	DIR/repos/REPO/_tags/TAG  the digest it names
//	DIR/uploads/ID           blob uploads in progress (cleared at start)
type store struct {
	dir string
	mu  sync.Mutex // orders the read-modify-write of sizes
}

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

// sizeConflict is a claim of a blob's size that contradicts what the
// registry knows.
type sizeConflict struct {
	digest      string
	known, said int64
	verified    bool
}

func (e *sizeConflict) Error() string {
	how := "was announced as"
	if e.verified {
		how = "is, by its bytes,"
	}
	return fmt.Sprintf("blob %s %s %d bytes, not %d", e.digest, how, e.known, e.said)
}

// setSize records a blob's size. A size a client merely states (announced)
// never replaces a known one: reading the CAS with a wrong size can make
// it drop the blob (buildbox-casd deletes a blob read past its end), so a
// conflicting claim is a *sizeConflict. A verified size (the registry hashed
// the bytes) replaces an announced one.
func (s *store) setSize(digest string, size int64, verified bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, oldVerified, ok := s.sizeOf(digest)
	switch {
	case ok && old == size && (oldVerified || !verified):
		return nil
	case ok && old != size && (oldVerified || !verified):
		return &sizeConflict{digest: digest, known: old, said: size, verified: oldVerified}
	}
	v := strconv.FormatInt(size, 10)
	if verified {
		v += " verified"
	}
	return writeFile(filepath.Join(s.dir, "sizes", hexOf(digest)), []byte(v))
}

// size is the blob's known size, verified or announced.
func (s *store) size(digest string) (int64, bool) {
	n, _, ok := s.sizeOf(digest)
	return n, ok
}

func (s *store) sizeOf(digest string) (n int64, verified, ok bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, "sizes", hexOf(digest)))
	if err != nil {
		return 0, false, false
	}
	num, verified := strings.CutSuffix(string(b), " verified")
	n, err = strconv.ParseInt(num, 10, 64)
	return n, verified, err == nil && n >= 0
}

// putManifest stores raw under its digest in repo with its media type, and
// tags it when tag is not "". What one repository stores changes nothing
// another serves: the shared file holds only the content-addressed bytes.
func (s *store) putManifest(repo, tag, digest string, mediaType oci.MediaType, raw []byte) error {
	h := hexOf(digest)
	rdir := s.repoDir(repo)
	if err := os.MkdirAll(filepath.Join(rdir, "_manifests"), 0o755); err != nil {
		return err
	}
	if tag != "" {
		if err := os.MkdirAll(filepath.Join(rdir, "_tags"), 0o755); err != nil {
			return err
		}
	}
	if shared := filepath.Join(s.dir, "manifests", h); !exists(shared) {
		if err := writeFile(shared, raw); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(rdir, "_manifests", h), []byte(mediaType)); err != nil {
		return err
	}
	if tag == "" {
		return nil
	}
	return writeFile(filepath.Join(rdir, "_tags", tag), []byte(digest))
}

func (s *store) repoDir(repo string) string {
	return filepath.Join(s.dir, "repos", filepath.FromSlash(repo))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// resolve turns a tag or digest of repo into a digest; "" when unknown.
func (s *store) resolve(repo, ref string) string {
	rdir := s.repoDir(repo)
	if oci.CheckDigest(ref) != nil {
		b, err := os.ReadFile(filepath.Join(rdir, "_tags", ref))
		if err != nil || oci.CheckDigest(string(b)) != nil {
			return ""
		}
		return string(b)
	}
	if !exists(filepath.Join(rdir, "_manifests", hexOf(ref))) {
		return ""
	}
	return ref
}

// manifest returns the bytes of digest and the media type repo holds it as.
func (s *store) manifest(repo, digest string) ([]byte, oci.MediaType, error) {
	h := hexOf(digest)
	mt, err := os.ReadFile(filepath.Join(s.repoDir(repo), "_manifests", h))
	if err != nil {
		return nil, "", err
	}
	base := filepath.Join(s.dir, "manifests", h)
	if len(mt) == 0 {
		// Data directories written before media types were kept per
		// repository.
		if mt, err = os.ReadFile(base + ".type"); err != nil {
			return nil, "", err
		}
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		return nil, "", err
	}
	return raw, oci.MediaType(mt), nil
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
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		// Without the sync, a crash after the rename can leave an empty
		// or short file under the final name.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
