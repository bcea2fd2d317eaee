package layer

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Auto, as FromTar's algorithm, keeps the input's compression and bytes.
const Auto = "auto"

// FromTar turns an existing tar (plain, gzip or zstd, sniffed from its first
// bytes) into a layer blob. With c.Algorithm == "auto" the input bytes are
// copied to blob unchanged; otherwise the input is decompressed and
// recompressed with c. Either way the tar is read to its end, so input that is
// not a tar is rejected, and everything happens in one streaming pass.
func FromTar(in io.Reader, blob io.Writer, c compress.Options) (oci.LayerMetadata, error) {
	br := bufio.NewReaderSize(in, 1<<20)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return oci.LayerMetadata{}, err
	}
	detected := compress.Detect(head)

	if c.Algorithm != Auto {
		if err := c.Validate(); err != nil {
			return oci.LayerMetadata{}, fmt.Errorf("%w (or auto, to keep the input as is)", err)
		}
		return compressed(blob, c, func(w io.Writer) error {
			return readTar(br, detected, w)
		})
	}

	out := newDigester()
	bw := bufio.NewWriterSize(io.MultiWriter(blob, out), 1<<20)
	diff := newDigester()
	raw := io.TeeReader(br, bw)
	if err := readTar(raw, detected, diff); err != nil {
		return oci.LayerMetadata{}, err
	}
	// Bytes after the compressed stream (if the decoder left any) are part of
	// the blob as stored.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return oci.LayerMetadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return oci.LayerMetadata{}, err
	}
	return oci.LayerMetadata{
		MediaType: compress.MediaType(detected),
		Digest:    out.digest(),
		Size:      out.n,
		DiffID:    diff.digest(),
	}, nil
}

// readTar decompresses r, validates it as a tar, and copies every
// decompressed byte, including padding after the end-of-archive marker, to
// tarOut.
func readTar(r io.Reader, algorithm string, tarOut io.Writer) error {
	dec, err := compress.NewReader(r, algorithm)
	if err != nil {
		return fmt.Errorf("input is not a valid %s stream: %w", algorithm, err)
	}
	defer dec.Close()
	counted := &countWriter{w: tarOut}
	plain := io.TeeReader(dec, counted)
	tr := tar.NewReader(plain)
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			_, err = io.Copy(io.Discard, tr)
		}
		if err != nil {
			return fmt.Errorf("input is not a tar (%s compression): %w", algorithm, err)
		}
	}
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return fmt.Errorf("reading %s input after the tar: %w", algorithm, err)
	}
	if counted.n == 0 {
		return errors.New("input is empty; a layer tar needs at least the end-of-archive marker")
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
