package ztoc

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand"
	"testing"

	"github.com/klauspost/pgzip"
)

// sample is a mix of text, repeats and noise, so that stored, fixed and
// dynamic blocks all occur.
func sample(n int) []byte {
	r := rand.New(rand.NewSource(int64(n)))
	var b bytes.Buffer
	words := []string{"layer ", "image ", "manifest ", "blob ", "digest ", "\n"}
	for b.Len() < n {
		switch r.Intn(3) {
		case 0:
			for i := 0; i < 200; i++ {
				b.WriteString(words[r.Intn(len(words))])
			}
		case 1:
			noise := make([]byte, r.Intn(70000))
			r.Read(noise)
			b.Write(noise)
		default:
			b.Write(bytes.Repeat([]byte{byte(r.Intn(256))}, r.Intn(5000)))
		}
	}
	return b.Bytes()[:n]
}

func compressors() map[string]func(io.Writer) io.WriteCloser {
	out := map[string]func(io.Writer) io.WriteCloser{}
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
		out[fmt.Sprintf("gzip-%d", level)] = func(w io.Writer) io.WriteCloser {
			z, _ := gzip.NewWriterLevel(w, level)
			return z
		}
	}
	out["pgzip"] = func(w io.Writer) io.WriteCloser {
		z := pgzip.NewWriter(w)
		z.SetConcurrency(1<<16, 4)
		return z
	}
	return out
}

// TestCheckpointsResume decodes from every checkpoint with its primed bits
// and window, and expects the rest of the data exactly.
func TestCheckpointsResume(t *testing.T) {
	data := sample(3 << 20)
	for name, newWriter := range compressors() {
		t.Run(name, func(t *testing.T) {
			var blob bytes.Buffer
			z := newWriter(&blob)
			z.Write(data)
			z.Close()
			var out bytes.Buffer
			points, n, err := gzipCheckpoints(bytes.NewReader(blob.Bytes()), &out, 256<<10)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(blob.Len()) || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("decoded %d of %d bytes, output equal: %v", n, blob.Len(), bytes.Equal(out.Bytes(), data))
			}
			if len(points) < 2 && name != "gzip-0" {
				t.Fatalf("%d checkpoints in 3 MiB with a 256 KiB span", len(points))
			}
			for i, p := range points {
				b := &bitReader{r: bufio.NewReader(bytes.NewReader(blob.Bytes()[p.in:]))}
				if p.bits != 0 {
					b.buf = uint64(blob.Bytes()[p.in-1] >> (8 - p.bits))
					b.nb = uint(p.bits)
				}
				var rest bytes.Buffer
				o := newOutput(&rest)
				o.buf = append(o.buf, p.window...)
				o.flushed = len(o.buf)
				o.total = windowSize
				if err := inflate(b, o, func() {}); err != nil {
					t.Fatalf("checkpoint %d (in %d, bits %d): %v", i, p.in, p.bits, err)
				}
				o.flush()
				if !bytes.Equal(rest.Bytes(), data[p.out:]) {
					t.Fatalf("checkpoint %d (in %d, out %d, bits %d): the rest differs", i, p.in, p.out, p.bits)
				}
			}
		})
	}
}

func TestCorrupt(t *testing.T) {
	var blob bytes.Buffer
	z := gzip.NewWriter(&blob)
	z.Write(sample(100000))
	z.Close()
	good := blob.Bytes()
	for name, bad := range map[string][]byte{
		"truncated":  good[:len(good)/2],
		"not gzip":   []byte("hello, this is not gzip"),
		"bad crc":    append(append([]byte{}, good[:len(good)-8]...), 0, 0, 0, 0, good[len(good)-4], good[len(good)-3], good[len(good)-2], good[len(good)-1]),
		"block type": append(append([]byte{}, good[:10]...), 0x07, 0, 0, 0),
	} {
		if _, _, err := gzipCheckpoints(bytes.NewReader(bad), io.Discard, 1<<20); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBuildTar(t *testing.T) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755})
	big := sample(5 << 20)
	tw.WriteHeader(&tar.Header{Name: "app/big", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(big)), PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}})
	tw.Write(big)
	tw.WriteHeader(&tar.Header{Name: "app/small", Typeflag: tar.TypeReg, Mode: 0o600, Size: 5})
	tw.Write([]byte("hello"))
	tw.WriteHeader(&tar.Header{Name: "app/link", Typeflag: tar.TypeSymlink, Linkname: "small"})
	tw.Close()
	var blob bytes.Buffer
	z := gzip.NewWriter(&blob)
	z.Write(tarball.Bytes())
	z.Close()

	a, err := Build(bytes.NewReader(blob.Bytes()), int64(blob.Len()), 1<<20, "test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(bytes.NewReader(blob.Bytes()), int64(blob.Len()), 1<<20, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two builds differ")
	}
	// The file's data is where the TOC says.
	if !bytes.Contains(a, []byte("app/small")) || !bytes.Contains(a, []byte("SCHILY.xattr.user.k")) {
		t.Fatal("ztoc lacks the file names or PAX records")
	}
	files, n, err := readTOC(bytes.NewReader(tarball.Bytes()))
	if err != nil || len(files) != 4 {
		t.Fatalf("readTOC: %v, %d files", err, len(files))
	}
	if got := string(tarball.Bytes()[files[2].offset : files[2].offset+5]); got != "hello" {
		t.Fatalf("app/small at %d reads %q", files[2].offset, got)
	}
	if n > int64(tarball.Len()) || n < int64(tarball.Len())-10240 {
		t.Fatalf("tar size %d of %d", n, tarball.Len())
	}
	if _, err := Build(bytes.NewReader(append(blob.Bytes(), 'x')), int64(blob.Len()+1), 1<<20, "test"); err == nil {
		t.Fatal("trailing garbage accepted")
	}
}
