package deb

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rules-img/rules_img/pkg/layer"
)

// ExtractOptions say how a package's files become layer entries.
type ExtractOptions struct {
	// Tree is the directory regular files are written to; entries name
	// them there as their source.
	Tree string
	// UsrMerged moves /bin, /sbin and /lib* under /usr, as a merged-/usr
	// system (and linux_skeleton's default) has them: the top-level names
	// are links there, and nothing may be placed beneath a link.
	UsrMerged bool
	// StatusDir is where dpkg's metadata goes: <dir>/<package> (the
	// control file) and <dir>/<package>.md5sums, as distroless images keep
	// it so scanners find the package. Empty writes none.
	StatusDir string
}

var mergedTop = map[string]bool{"bin": true, "sbin": true, "lib": true, "lib32": true, "lib64": true, "libx32": true}

// cleanName turns a data.tar entry name into an image path without the
// leading "/", or "" for the root; names that climb out are errors.
func cleanName(name string, usrMerged bool) (string, error) {
	n := strings.Trim(strings.TrimPrefix(name, "./"), "/")
	if n == "" || n == "." {
		return "", nil
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." || c == "" || c == "." {
			return "", fmt.Errorf("entry %q is not a clean relative path", name)
		}
	}
	if top, _, _ := strings.Cut(n, "/"); usrMerged && mergedTop[top] {
		n = "usr/" + n
	}
	return n, nil
}

// eachEntry calls fn with every entry of the package's data tar.
func eachEntry(debPath string, fn func(h *tar.Header, r io.Reader) error) (*Package, error) {
	return Walk(debPath, func(_ *Package, tr *tar.Reader) error {
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("data.tar: %w", err)
			}
			if err := fn(h, tr); err != nil {
				return err
			}
		}
	})
}

// Extract reads the .deb at debPath into layer entries: directories,
// files (copied under o.Tree) and symlinks with the package's modes and
// owners, and dpkg's metadata for the package.
func Extract(debPath string, o ExtractOptions) (*Package, []layer.Entry, error) {
	var entries []layer.Entry
	files := map[string]layer.Entry{} // regular files by image path, for hardlinks
	pkg, err := eachEntry(debPath, func(h *tar.Header, tr io.Reader) error {
		name, err := cleanName(h.Name, o.UsrMerged)
		if err != nil {
			return fmt.Errorf("data.tar: %w", err)
		}
		if name == "" {
			return nil
		}
		uid, gid := int64(h.Uid), int64(h.Gid)
		mode := fmt.Sprintf("%04o", h.Mode&0o7777)
		meta := &layer.Metadata{Mode: &mode, UID: &uid, GID: &gid}
		e := layer.Entry{Path: "/" + name, Metadata: meta}
		switch h.Typeflag {
		case tar.TypeDir:
			e.Type = layer.TypeDir
		case tar.TypeSymlink:
			e.Type, e.Target = layer.TypeSymlink, h.Linkname
			e.Metadata = nil // a link's mode and owner mean nothing
		case tar.TypeReg:
			dst := filepath.Join(o.Tree, filepath.FromSlash(name))
			if err := writeFile(dst, tr); err != nil {
				return err
			}
			e.Type, e.Source = layer.TypeFile, dst
			files[name] = e
		case tar.TypeLink:
			target, err := cleanName(h.Linkname, o.UsrMerged)
			file, ok := files[target]
			if err != nil || !ok {
				return fmt.Errorf("data.tar: hardlink %q points at %q, which is no file before it", h.Name, h.Linkname)
			}
			// One inode: the link has its target's content and metadata.
			e.Type, e.Source, e.Metadata = layer.TypeFile, file.Source, file.Metadata
		default:
			return fmt.Errorf("data.tar: entry %q has tar type %q, which a layer built from packages does not carry", h.Name, h.Typeflag)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if o.StatusDir != "" {
		control := pkg.ControlText
		if !strings.HasSuffix(control, "\n") {
			control += "\n"
		}
		status := path.Join(o.StatusDir, pkg.Name())
		entries = append(entries, contentEntry(status, control))
		if pkg.MD5Sums != "" {
			entries = append(entries, contentEntry(status+".md5sums", pkg.MD5Sums))
		}
	}
	return pkg, entries, nil
}

func contentEntry(p, content string) layer.Entry {
	mode := "0644"
	var root int64
	return layer.Entry{Path: p, Type: layer.TypeFile, Content: &content, Metadata: &layer.Metadata{Mode: &mode, UID: &root, GID: &root}}
}

func writeFile(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Files returns the regular files of a package's data whose image path
// (without the leading "/") match says to keep, by path.
func Files(debPath string, match func(string) bool) (map[string][]byte, error) {
	out := map[string][]byte{}
	_, err := eachEntry(debPath, func(h *tar.Header, r io.Reader) error {
		name, err := cleanName(h.Name, false)
		if err != nil || h.Typeflag != tar.TypeReg || !match(name) {
			return nil
		}
		b, err := io.ReadAll(r)
		out[name] = b
		return err
	})
	return out, err
}
