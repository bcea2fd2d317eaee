// Package deb reads Debian packages and their archive's indexes: the
// members of a .deb, its control file and data tar, the Packages index,
// version order and dependency resolution into a lockfile.
package deb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rules-img/rules_img/pkg/internal/unpack"
)

// Package is a .deb's metadata: its control file and md5sums.
type Package struct {
	Control Paragraph
	// ControlText is the control file as the package has it, which dpkg's
	// status.d keeps and scanners read.
	ControlText string
	MD5Sums     string
}

// Name is the package's name from its control file.
func (p *Package) Name() string { return p.Control["Package"] }

const arMagic = "!<arch>\n"

// members walks an ar archive, calling fn with each member's name and body.
func members(r io.Reader, fn func(name string, body io.Reader) error) error {
	br := bufio.NewReader(r)
	magic := make([]byte, len(arMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != arMagic {
		return errors.New("not a Debian package: it does not start with an ar archive header (!<arch>)")
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(br, hdr); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("not a Debian package: truncated ar header: %w", err)
		}
		if string(hdr[58:60]) != "`\n" {
			return errors.New("not a Debian package: bad ar member header")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("not a Debian package: bad size of ar member %q", name)
		}
		body := io.LimitReader(br, size)
		if err := fn(name, body); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return fmt.Errorf("not a Debian package: member %q cut short: %w", name, err)
		}
		if size%2 == 1 {
			br.ReadByte()
		}
	}
}

// decompress opens a control.tar or data.tar member by its suffix.
func decompress(name string, r io.Reader) (io.Reader, func(), error) {
	kind, ok := unpack.ByName(name)
	if !ok && !strings.HasSuffix(name, ".tar") {
		return nil, func() {}, fmt.Errorf("member %s has a compression dpkg does not use", name)
	}
	return unpack.Reader(kind, r)
}

// Walk reads the .deb at path: its control member first, then calls data
// with a reader over the data tar. data may be nil to read metadata only.
func Walk(path string, data func(*Package, *tar.Reader) error) (*Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pkg *Package
	var sawBinary, sawData bool
	err = members(f, func(name string, body io.Reader) error {
		switch {
		case name == "debian-binary":
			b, _ := io.ReadAll(io.LimitReader(body, 64))
			if !strings.HasPrefix(string(b), "2.") {
				return fmt.Errorf("not a Debian package: format %q (want 2.x)", strings.TrimSpace(string(b)))
			}
			sawBinary = true
		case strings.HasPrefix(name, "control.tar"):
			p, err := readControl(name, body)
			if err != nil {
				return err
			}
			pkg = p
		case strings.HasPrefix(name, "data.tar"):
			sawData = true
			if pkg == nil {
				return errors.New("data.tar comes before control.tar")
			}
			if data == nil {
				return nil
			}
			z, done, err := decompress(name, body)
			if err != nil {
				return err
			}
			defer done()
			return data(pkg, tar.NewReader(z))
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case !sawBinary || pkg == nil || !sawData:
		return nil, fmt.Errorf("%s: not a Debian package: it lacks debian-binary, control.tar or data.tar", path)
	}
	return pkg, nil
}

func readControl(name string, body io.Reader) (*Package, error) {
	z, done, err := decompress(name, body)
	if err != nil {
		return nil, err
	}
	defer done()
	tr := tar.NewReader(z)
	pkg := &Package{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "control":
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return nil, err
			}
			pkg.ControlText = string(b)
			paras, err := ParseParagraphs(bytes.NewReader(b))
			if err != nil || len(paras) != 1 {
				return nil, fmt.Errorf("%s: the control file is not one paragraph: %v", name, err)
			}
			pkg.Control = paras[0]
		case "md5sums":
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return nil, err
			}
			pkg.MD5Sums = string(b)
		}
	}
	if pkg.Control == nil || pkg.Name() == "" {
		return nil, fmt.Errorf("%s has no control file naming the package", name)
	}
	return pkg, nil
}
