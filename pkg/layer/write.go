package layer

import (
	"archive/tar"
	"io"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/layer/blob"
	"github.com/rules-img/rules_img/pkg/layer/estargz"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Write validates spec and writes the uncompressed layer tar to w.
func Write(w io.Writer, spec *Spec) error {
	items, err := plan(spec)
	if err != nil {
		return err
	}
	return writeTar(w, spec, items)
}

// Build validates spec, then writes the compressed layer to blob and returns
// its metadata (without annotations). The tar is produced, compressed and
// hashed in one streaming pass; memory does not grow with the layer size.
// Nothing is written to blob if validation fails.
func Build(spec *Spec, out io.Writer, c compress.Options) (oci.LayerMetadata, error) {
	return BuildTo(spec, out, c, nil)
}

// BuildTo is Build that also writes the uncompressed tar to tap, unless it
// is nil: a compact stream's recorder.
func BuildTo(spec *Spec, out io.Writer, c compress.Options, tap io.Writer) (oci.LayerMetadata, error) {
	if err := c.Validate(); err != nil {
		return oci.LayerMetadata{}, err
	}
	items, err := plan(spec)
	if err != nil {
		return oci.LayerMetadata{}, err
	}
	return blob.Write(out, c, func(tarOut io.Writer) error {
		if tap != nil {
			tarOut = io.MultiWriter(tarOut, tap)
		}
		return writeTar(tarOut, spec, items)
	})
}

// BuildEStargz is Build for an eStargz layer (gzip only): the prioritized
// files first, then the landmark, then the rest in Build's order. The
// metadata carries the TOC digest and uncompressed size annotations.
func BuildEStargz(spec *Spec, out io.Writer, c compress.Options) (oci.LayerMetadata, error) {
	if err := c.Validate(); err != nil {
		return oci.LayerMetadata{}, err
	}
	items, err := plan(spec)
	if err != nil {
		return oci.LayerMetadata{}, err
	}
	if items, err = estargzOrder(spec, items); err != nil {
		return oci.LayerMetadata{}, err
	}
	return estargz.Write(out, c, nil, func(tarOut io.Writer) error {
		return writeTar(tarOut, spec, items)
	})
}

func writeTar(w io.Writer, spec *Spec, items []*item) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 1<<20)
	dups := newDeduper(items, buf)
	ahead := readAhead(items, dups.srcs)
	defer ahead.stop()
	for _, it := range items {
		// Built from scratch (never tar.FileInfoHeader) so nothing from the
		// host leaks in: no atime/ctime, device numbers or user names.
		hdr := &tar.Header{
			Typeflag:   it.kind,
			Name:       it.name,
			Linkname:   it.link,
			Mode:       it.attrs.mode,
			Uid:        it.attrs.uid,
			Gid:        it.attrs.gid,
			Uname:      it.attrs.uname,
			Gname:      it.attrs.gname,
			ModTime:    it.attrs.mtime,
			PAXRecords: it.attrs.pax,
		}
		if it.kind == tar.TypeDir {
			hdr.Name += "/"
		}
		if it.kind == tar.TypeReg {
			hdr.Size = it.size
		}
		var content []byte
		if it.ahead {
			f := ahead.next()
			if f.err != nil {
				return spec.errorf("%s: %v", it.origin, f.err)
			}
			content = f.data
		}
		if dups.candidate(it) {
			err := dups.write(tw, hdr, it, content)
			ahead.release(content)
			if err != nil {
				return spec.errorf("%s: %v", it.origin, err)
			}
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return spec.errorf("writing /%s: %v", it.name, err)
		}
		if it.data != nil {
			if _, err := tw.Write(it.data); err != nil {
				return spec.errorf("writing /%s: %v", it.name, err)
			}
		} else if it.ahead {
			_, err := tw.Write(content)
			ahead.release(content)
			if err != nil {
				return spec.errorf("writing /%s: %v", it.name, err)
			}
		} else if it.kind == tar.TypeReg {
			if err := copyFile(tw, it, buf); err != nil {
				return spec.errorf("%s: %v", it.origin, err)
			}
		}
	}
	return tw.Close()
}

// copyFile copies exactly it.size bytes and fails if the file changed size
// since it was planned, rather than writing a corrupt tar.
func copyFile(w io.Writer, it *item, buf []byte) error {
	if it.src == "" {
		return nil // an empty entry: no content, nothing to open
	}
	f, err := openFile(it.src)
	if err != nil {
		return err
	}
	defer f.Close()
	return copyRest(w, f, it.size, buf)
}
