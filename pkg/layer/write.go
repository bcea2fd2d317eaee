package layer

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/rules-img/rules_img/pkg/compress"
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
func Build(spec *Spec, blob io.Writer, c compress.Options) (oci.LayerMetadata, error) {
	if err := c.Validate(); err != nil {
		return oci.LayerMetadata{}, err
	}
	items, err := plan(spec)
	if err != nil {
		return oci.LayerMetadata{}, err
	}
	return compressed(blob, c, func(tarOut io.Writer) error {
		return writeTar(tarOut, spec, items)
	})
}

// compressed runs produce with a writer whose bytes are hashed as the diffID,
// compressed, and written to blob while being hashed as the digest.
func compressed(blob io.Writer, c compress.Options, produce func(io.Writer) error) (oci.LayerMetadata, error) {
	if c.Algorithm == compress.None {
		return uncompressed(blob, produce)
	}
	out := newDigester()
	bw := bufio.NewWriterSize(io.MultiWriter(blob, out), 1<<20)
	cw, err := compress.NewWriter(bw, c)
	if err != nil {
		return oci.LayerMetadata{}, err
	}
	diff := newDigester()
	if err := produce(io.MultiWriter(cw, diff)); err != nil {
		cw.Close()
		return oci.LayerMetadata{}, err
	}
	if err := cw.Close(); err != nil {
		return oci.LayerMetadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return oci.LayerMetadata{}, err
	}
	return oci.LayerMetadata{
		MediaType: compress.MediaType(c.Algorithm),
		Digest:    out.digest(),
		Size:      out.n,
		DiffID:    diff.digest(),
	}, nil
}

// uncompressed stores the tar as the blob: one hash serves as both digest and
// diffID, which saves hashing every byte twice.
func uncompressed(blob io.Writer, produce func(io.Writer) error) (oci.LayerMetadata, error) {
	d := newDigester()
	bw := bufio.NewWriterSize(io.MultiWriter(blob, d), 1<<20)
	if err := produce(bw); err != nil {
		return oci.LayerMetadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return oci.LayerMetadata{}, err
	}
	return oci.LayerMetadata{
		MediaType: compress.MediaType(compress.None),
		Digest:    d.digest(),
		Size:      d.n,
		DiffID:    d.digest(),
	}, nil
}

func writeTar(w io.Writer, spec *Spec, items []*item) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 1<<20)
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
		if err := tw.WriteHeader(hdr); err != nil {
			return spec.errorf("writing /%s: %v", it.name, err)
		}
		if it.kind == tar.TypeReg {
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
	f, err := os.Open(it.src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(w, io.LimitReader(f, it.size), buf)
	if err != nil {
		return err
	}
	var one [1]byte
	if m, _ := f.Read(one[:]); n != it.size || m != 0 {
		return fmt.Errorf("file changed size while the layer was written")
	}
	return nil
}

// digester hashes and counts what passes through it.
type digester struct {
	h hash.Hash
	n int64
}

func newDigester() *digester { return &digester{h: sha256.New()} }

func (d *digester) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digester) digest() string { return "sha256:" + hex.EncodeToString(d.h.Sum(nil)) }
