package casreg

import (
	"encoding/json"
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

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/oci"
)

// store keeps what the CAS cannot: manifests, tags, which repository holds
// which manifest, and the size of each blob digest it has heard of (REAPI
// addresses a blob by digest and size, a registry by digest alone). Every
// write is a file synced and renamed into place, so a crash or restart loses
// nothing that was acknowledged. KEY is a digest's keyOf.
//
//	DIR/manifests/KEY        manifest bytes (content-addressed, shared)
//	DIR/sizes/KEY            a blob's size in decimal; then " verified" when an
//	                         upload or a hash-checked read proved it; then
//	                         " cas=DIGEST" when the CAS keeps it under another
//	                         digest (a sha512 blob, under its sha256)
//	DIR/caskeys/KEY          the OCI digest of a CAS key, when the CAS keys
//	                         blobs by another function (sha1)
//	DIR/repos/REPO/_manifests/KEY  the manifest's media type in REPO
//	DIR/repos/REPO/_tags/TAG  the digest it names
//	DIR/repos/REPO/_deleted/KEY    a blob deleted from REPO (the CAS keeps it)
//	DIR/repos/REPO/_referrers/SUBJECTKEY/KEY  the descriptor of a manifest
//	                         in REPO whose subject is SUBJECT
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
	for _, sub := range []string{"manifests", "sizes", "caskeys", "repos", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("registry data directory: %w", err)
		}
	}
	return &store{dir: dir}, nil
}

// blobInfo is what the store knows of a blob.
type blobInfo struct {
	size     int64
	verified bool   // the registry hashed its bytes
	cas      string // its CAS digest when not its own
}

// casBlob is the CAS entry that holds digest's bytes.
func (b blobInfo) casBlob(digest string) cas.Blob {
	if b.cas != "" {
		return cas.Blob{Digest: b.cas, Size: b.size}
	}
	return cas.Blob{Digest: digest, Size: b.size}
}

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
// the bytes) replaces an announced one. casDigest is "" when the CAS keeps
// the blob under digest itself.
func (s *store) setSize(digest string, size int64, verified bool, casDigest string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.blob(digest)
	switch {
	case ok && old.size == size && (old.verified || !verified):
		return nil
	case ok && old.size != size && (old.verified || !verified):
		return &sizeConflict{digest: digest, known: old.size, said: size, verified: old.verified}
	}
	v := strconv.FormatInt(size, 10)
	if verified {
		v += " verified"
	}
	if casDigest != "" && casDigest != digest {
		v += " cas=" + casDigest
	}
	return writeFile(filepath.Join(s.dir, "sizes", keyOf(digest)), []byte(v))
}

// size is the blob's known size, verified or announced.
func (s *store) size(digest string) (int64, bool) {
	b, ok := s.blob(digest)
	return b.size, ok
}

func (s *store) blob(digest string) (blobInfo, bool) {
	raw, err := os.ReadFile(filepath.Join(s.dir, "sizes", keyOf(digest)))
	if err != nil {
		return blobInfo{}, false
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return blobInfo{}, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 {
		return blobInfo{}, false
	}
	b := blobInfo{size: n}
	for _, w := range f[1:] {
		if w == "verified" {
			b.verified = true
		} else if d, ok := strings.CutPrefix(w, "cas="); ok && oci.CheckCASDigest(d) == nil {
			b.cas = d
		}
	}
	return b, true
}

// setCASKey records which OCI digest a CAS key holds, for a CAS keyed by
// another function than the digest's.
func (s *store) setCASKey(casDigest, digest string) error {
	return writeFile(filepath.Join(s.dir, "caskeys", keyOf(casDigest)), []byte(digest))
}

// ociDigest is the OCI digest of a CAS key setCASKey recorded.
func (s *store) ociDigest(casDigest string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, "caskeys", keyOf(casDigest)))
	if err != nil || oci.CheckRegistryDigest(string(b)) != nil {
		return "", false
	}
	return string(b), true
}

// deleteBlob hides a blob from repo; the CAS, and other repositories,
// keep it. An upload or mount into repo brings it back.
func (s *store) deleteBlob(repo, digest string) error {
	dir := filepath.Join(s.repoDir(repo), "_deleted")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, keyOf(digest)), nil)
}

func (s *store) blobDeleted(repo, digest string) bool {
	return exists(filepath.Join(s.repoDir(repo), "_deleted", keyOf(digest)))
}

func (s *store) undeleteBlob(repo, digest string) {
	os.Remove(filepath.Join(s.repoDir(repo), "_deleted", keyOf(digest)))
}

// putManifest stores raw under its digest in repo with its media type, and
// tags it when tag is not "". What one repository stores changes nothing
// another serves: the shared file holds only the content-addressed bytes.
// A manifest with a subject is listed among the subject's referrers.
func (s *store) putManifest(repo, tag, digest string, mediaType oci.MediaType, raw []byte, subject string, self oci.Descriptor) error {
	k := keyOf(digest)
	rdir := s.repoDir(repo)
	if err := os.MkdirAll(filepath.Join(rdir, "_manifests"), 0o755); err != nil {
		return err
	}
	if tag != "" {
		if err := os.MkdirAll(filepath.Join(rdir, "_tags"), 0o755); err != nil {
			return err
		}
	}
	if shared := filepath.Join(s.dir, "manifests", k); !exists(shared) {
		if err := writeFile(shared, raw); err != nil {
			return err
		}
	}
	if subject != "" {
		dir := filepath.Join(rdir, "_referrers", keyOf(subject))
		desc, err := json.Marshal(self)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, k), desc); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(rdir, "_manifests", k), []byte(mediaType)); err != nil {
		return err
	}
	if tag == "" {
		return nil
	}
	return writeFile(filepath.Join(rdir, "_tags", tag), []byte(digest))
}

// deleteManifest removes digest from repo, with the tags that name it and
// its entry among its subject's referrers. The shared bytes stay: another
// repository may hold the same manifest.
func (s *store) deleteManifest(repo, digest string, subject string) error {
	rdir := s.repoDir(repo)
	k := keyOf(digest)
	if tags, ok := s.tags(repo); ok {
		for _, t := range tags {
			if b, err := os.ReadFile(filepath.Join(rdir, "_tags", t)); err == nil && string(b) == digest {
				if err := os.Remove(filepath.Join(rdir, "_tags", t)); err != nil {
					return err
				}
			}
		}
	}
	if subject != "" {
		os.Remove(filepath.Join(rdir, "_referrers", keyOf(subject), k))
	}
	return os.Remove(filepath.Join(rdir, "_manifests", k))
}

// deleteTag removes a tag of repo; false when it had none of that name.
func (s *store) deleteTag(repo, tag string) (bool, error) {
	err := os.Remove(filepath.Join(s.repoDir(repo), "_tags", tag))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// referrers lists the descriptors of repo's manifests whose subject is
// digest, in digest order.
func (s *store) referrers(repo, digest string) ([]oci.Descriptor, error) {
	dir := filepath.Join(s.repoDir(repo), "_referrers", keyOf(digest))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []oci.Descriptor
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // deleted meanwhile
		}
		var d oci.Descriptor
		if json.Unmarshal(b, &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
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
	if oci.CheckRegistryDigest(ref) != nil {
		b, err := os.ReadFile(filepath.Join(rdir, "_tags", ref))
		if err != nil || oci.CheckRegistryDigest(string(b)) != nil {
			return ""
		}
		return string(b)
	}
	if !exists(filepath.Join(rdir, "_manifests", keyOf(ref))) {
		return ""
	}
	return ref
}

// manifest returns the bytes of digest and the media type repo holds it as.
func (s *store) manifest(repo, digest string) ([]byte, oci.MediaType, error) {
	k := keyOf(digest)
	mt, err := os.ReadFile(filepath.Join(s.repoDir(repo), "_manifests", k))
	if err != nil {
		return nil, "", err
	}
	base := filepath.Join(s.dir, "manifests", k)
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
	rdir := s.repoDir(repo)
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
