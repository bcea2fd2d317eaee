package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/rules-img/rules_img/pkg/oci"
)

// testData is a few MiB of mixed compressible and random bytes, large enough
// to span many zstd blocks and several pgzip blocks, with matches that cross
// block boundaries.
func testData(t testing.TB) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < 5<<20 {
		switch r.IntN(3) {
		case 0:
			fmt.Fprintf(&b, "line %d of some fairly repetitive text %s\n", r.IntN(1000), strings.Repeat("ab", r.IntN(50)))
		case 1:
			chunk := make([]byte, r.IntN(4096))
			for i := range chunk {
				chunk[i] = byte(r.Uint32())
			}
			b.Write(chunk)
		default:
			// Repeat something from far back to create long-distance matches.
			if b.Len() > 1<<20 {
				off := r.IntN(b.Len() - 1<<16)
				b.Write(append([]byte(nil), b.Bytes()[off:off+r.IntN(1<<16)]...))
			}
		}
	}
	return b.Bytes()
}

func compressBytes(t testing.TB, data []byte, o Options, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, o)
	if err != nil {
		t.Fatalf("NewWriter(%+v): %v", o, err)
	}
	// Write in uneven chunks so the result cannot depend on write sizes.
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
		chunk = chunk*7%65521 + 1
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := testData(t)
	cases := []Options{
		{Algorithm: None, Level: -1},
		{Algorithm: Gzip, Level: -1, Jobs: 1},
		{Algorithm: Gzip, Level: 0, Jobs: 1},
		{Algorithm: Gzip, Level: 9, Jobs: 1},
		{Algorithm: Gzip, Level: -1, Jobs: 4},
		{Algorithm: Gzip, Level: 1, Jobs: 2},
		{Algorithm: Zstd, Level: -1, Jobs: 1},
		{Algorithm: Zstd, Level: 1, Jobs: 1},
		{Algorithm: Zstd, Level: 4, Jobs: 4},
		{Algorithm: Zstd, Level: 2, Jobs: 2},
		{Algorithm: ZstdLong, Level: 3, Jobs: 1},
		{Algorithm: ZstdLong, Level: 3, Jobs: 4},
	}
	for _, o := range cases {
		t.Run(fmt.Sprintf("%s-l%d-j%d", o.Algorithm, o.Level, o.Jobs), func(t *testing.T) {
			c := compressBytes(t, data, o, 1000)
			// What a blob of the algorithm's media type is read as.
			if got, want := Detect(c), Of(MediaType(o.Algorithm)); got != want {
				t.Errorf("Detect = %q, want %q", got, want)
			}
			// Decompress with an independent implementation where there is one.
			var plain []byte
			var err error
			switch o.Algorithm {
			case Gzip:
				var r *stdgzip.Reader
				r, err = stdgzip.NewReader(bytes.NewReader(c))
				if err == nil {
					plain, err = io.ReadAll(r)
				}
			case Zstd, ZstdLong:
				var d *zstd.Decoder
				d, err = zstd.NewReader(nil)
				if err == nil {
					plain, err = d.DecodeAll(c, nil)
					d.Close()
				}
			case None:
				plain = c
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, data) {
				t.Fatalf("round trip mismatch: got %d bytes, want %d", len(plain), len(data))
			}
			// And through our own reader.
			r, err := NewReader(bytes.NewReader(c), o.Algorithm)
			if err != nil {
				t.Fatal(err)
			}
			plain, err = io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, data) {
				t.Fatal("NewReader round trip mismatch")
			}
		})
	}
}

// TestDeterministicAcrossJobs proves the claim in the package comment: the
// bytes do not depend on Jobs once Jobs > 1 (pgzip blocks, zstd chunks), and
// Jobs == 1 is deterministic too.
func TestDeterministicAcrossJobs(t *testing.T) {
	data := testData(t)
	for _, tc := range []struct {
		alg    string
		levels []int
		jobs   []int
	}{
		{Zstd, []int{-1, 1, 2, 3, 4}, []int{2, 3, 8}},
		{Zstd, []int{-1, 1, 2, 3, 4}, []int{1}},
		{Gzip, []int{-1, 1, 6, 9}, []int{2, 3, 8}},
		{Gzip, []int{-1, 1, 6, 9}, []int{1}},
	} {
		for _, level := range tc.levels {
			var first []byte
			for i, jobs := range tc.jobs {
				for rep := range 2 {
					o := Options{Algorithm: tc.alg, Level: level, Jobs: jobs}
					got := compressBytes(t, data, o, 1+rep*30000+i*5000)
					if first == nil {
						first = got
						continue
					}
					if !bytes.Equal(got, first) {
						t.Errorf("%s level %d jobs %d rep %d: output differs from jobs %d", tc.alg, level, jobs, rep, tc.jobs[0])
					}
				}
			}
		}
	}
}

// TestZstdLong: one frame whatever the jobs, a repeat further back than
// zstd's window found at the strongest level (the default), and a window
// every decoder takes by default.
func TestZstdLong(t *testing.T) {
	half := make([]byte, 9<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range half {
		half[i] = "0123456789abcdef"[r.IntN(16)]
	}
	data := append(append([]byte{}, half...), half...)
	check := func(level int, c []byte) {
		t.Helper()
		d, err := zstd.NewReader(bytes.NewReader(c), zstd.WithDecoderMaxWindow(zstdLongWindow))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if plain, err := io.ReadAll(d); err != nil || !bytes.Equal(plain, data) {
			t.Fatalf("level %d: a decoder limited to 128 MiB windows: %v", level, err)
		}
	}
	// The default is the strongest level, and jobs change nothing.
	best := compressBytes(t, data, Options{Algorithm: ZstdLong, Level: -1, Jobs: 1}, 1<<16)
	if got := compressBytes(t, data, Options{Algorithm: ZstdLong, Level: 4, Jobs: 8}, 77777); !bytes.Equal(got, best) {
		t.Error("level 4 with 8 jobs differs from the default with 1")
	}
	if short := compressBytes(t, data, Options{Algorithm: Zstd, Level: 4, Jobs: 1}, 1<<16); len(best)*10 > len(short)*6 {
		t.Errorf("zstd-long %d bytes, zstd %d: the 9 MiB repeat was not found", len(best), len(short))
	}
	check(4, best)
	better := compressBytes(t, data, Options{Algorithm: ZstdLong, Level: 3, Jobs: 1}, 1<<16)
	if got := compressBytes(t, data, Options{Algorithm: ZstdLong, Level: 3, Jobs: 8}, 77777); !bytes.Equal(got, better) {
		t.Error("level 3: jobs 8 differs from jobs 1")
	}
	if short := compressBytes(t, data, Options{Algorithm: Zstd, Level: 3, Jobs: 1}, 1<<16); len(better) > len(short) {
		t.Errorf("level 3: zstd-long %d bytes, more than zstd's %d", len(better), len(short))
	}
	check(3, better)
	if err := (Options{Algorithm: ZstdLong, Level: 2}).Validate(); err == nil || !strings.Contains(err.Error(), "3-4") {
		t.Errorf("level 2: %v", err)
	}
}

// bigTestData is testData repeated with variations to span several zstd
// chunks (about 4.5 chunks), the last one partial.
func bigTestData(t testing.TB) []byte {
	t.Helper()
	base := testData(t)
	var b bytes.Buffer
	for i := 0; b.Len() < 4*zstdChunkSize+zstdChunkSize/2; i++ {
		fmt.Fprintf(&b, "copy %d\n", i)
		b.Write(base[i*1000:])
	}
	return b.Bytes()[:4*zstdChunkSize+zstdChunkSize/2]
}

// TestZstdChunkedFormat pins the Jobs > 1 zstd format: the output is exactly
// the single-frame (Jobs == 1) compression of each zstdChunkSize chunk,
// concatenated. That also shows the chunk encoders' options (lowMem, and
// concurrency 1) do not change the bytes.
func TestZstdChunkedFormat(t *testing.T) {
	data := bigTestData(t)
	for _, level := range []int{-1, 1, 2, 3, 4} {
		if testing.Short() && level != -1 {
			continue
		}
		var want []byte
		for p := data; len(p) > 0; {
			n := min(zstdChunkSize, len(p))
			want = append(want, compressBytes(t, p[:n], Options{Algorithm: Zstd, Level: level, Jobs: 1}, 1<<16)...)
			p = p[n:]
		}
		for _, jobs := range []int{2, 3, 8} {
			got := compressBytes(t, data, Options{Algorithm: Zstd, Level: level, Jobs: jobs}, 1000+jobs)
			if !bytes.Equal(got, want) {
				t.Fatalf("level %d jobs %d: output (%d bytes) is not the concatenation of per-chunk frames (%d bytes)", level, jobs, len(got), len(want))
			}
		}
	}
}

// TestZstdSmallInputSameForAllJobs: an input of at most one chunk is one
// frame, byte-identical to the Jobs == 1 output, so small layers keep their
// digests whatever compression_jobs is.
func TestZstdSmallInputSameForAllJobs(t *testing.T) {
	data := testData(t)
	for _, n := range []int{0, 1, 1000, 200 << 10, zstdChunkSize - 1, zstdChunkSize} {
		for _, level := range []int{-1, 1, 3, 4} {
			one := compressBytes(t, data[:n], Options{Algorithm: Zstd, Level: level, Jobs: 1}, 4096)
			for _, jobs := range []int{2, 5} {
				if got := compressBytes(t, data[:n], Options{Algorithm: Zstd, Level: level, Jobs: jobs}, 777); !bytes.Equal(got, one) {
					t.Errorf("%d bytes, level %d: jobs %d differs from jobs 1", n, level, jobs)
				}
			}
		}
	}
}

// TestZstdChunkedDecoders round-trips a multi-frame stream through
// klauspost's decoder, our NewReader and, when installed, the zstd CLI
// (the reference implementation).
func TestZstdChunkedDecoders(t *testing.T) {
	data := bigTestData(t)
	c := compressBytes(t, data, Options{Algorithm: Zstd, Level: -1, Jobs: 3}, 65536)
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if plain, err := d.DecodeAll(c, nil); err != nil || !bytes.Equal(plain, data) {
		t.Fatalf("klauspost DecodeAll: %d bytes, %v", len(plain), err)
	}
	r, err := NewReader(bytes.NewReader(c), Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(r); err != nil || !bytes.Equal(plain, data) {
		t.Fatalf("NewReader: %d bytes, %v", len(plain), err)
	}
	r.Close()
	cli, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("zstd CLI not installed")
	}
	cmd := exec.Command(cli, "-d", "-c", "-q")
	cmd.Stdin = bytes.NewReader(c)
	plain, err := cmd.Output()
	if err != nil || !bytes.Equal(plain, data) {
		t.Fatalf("zstd -d: %d bytes, %v", len(plain), err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestZstdChunkedWriteError(t *testing.T) {
	data := bigTestData(t)
	w, err := NewWriter(&failWriter{after: 1}, Options{Algorithm: Zstd, Level: 1, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for p := data; len(p) > 0 && werr == nil; {
		n := min(1<<20, len(p))
		_, werr = w.Write(p[:n])
		p = p[n:]
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want disk full", err)
	}
	if err := w.Close(); err == nil {
		t.Error("second Close forgot the error")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after a failed Close succeeded")
	}
	_ = werr
}

func TestGzipHeaderReproducible(t *testing.T) {
	for _, jobs := range []int{1, 4} {
		c := compressBytes(t, []byte("hello"), Options{Algorithm: Gzip, Level: -1, Jobs: jobs}, 10)
		// ID1 ID2 CM FLG MTIME(4) XFL OS
		if c[3] != 0 {
			t.Errorf("jobs %d: FLG = %#x, want 0 (no name/comment/extra)", jobs, c[3])
		}
		if !bytes.Equal(c[4:8], []byte{0, 0, 0, 0}) {
			t.Errorf("jobs %d: MTIME = %x, want 0", jobs, c[4:8])
		}
		if c[9] != 255 {
			t.Errorf("jobs %d: OS = %d, want 255", jobs, c[9])
		}
	}
}

func TestEmptyInput(t *testing.T) {
	for _, o := range []Options{{Algorithm: Gzip, Level: -1}, {Algorithm: Gzip, Level: -1, Jobs: 3}, {Algorithm: Zstd, Level: -1}, {Algorithm: Zstd, Level: -1, Jobs: 3}} {
		c := compressBytes(t, nil, o, 1)
		r, err := NewReader(bytes.NewReader(c), o.Algorithm)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
			t.Fatalf("%+v: got %q, %v", o, b, err)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	allowed := "allowed: " + strings.Join(Names(), ", ")
	if !strings.HasPrefix(allowed, "allowed: gzip, zstd, ") {
		t.Fatalf("the table starts with gzip and zstd: %s", allowed)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Algorithm: "brotli", Level: -1}, allowed},
		{Options{Algorithm: "", Level: -1}, allowed},
		{Options{Algorithm: "auto", Level: -1}, allowed},
		{Options{Algorithm: Gzip, Level: 10}, "0-9"},
		{Options{Algorithm: Gzip, Level: -2}, "0-9"},
		{Options{Algorithm: Zstd, Level: 0}, "1-4"},
		{Options{Algorithm: Zstd, Level: 5}, "1-4"},
		{Options{Algorithm: Gzip, Level: -1, Jobs: -1}, "jobs"},
	} {
		_, err := NewWriter(io.Discard, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewWriter(%+v) = %v, want error containing %q", tc.o, err, tc.want)
		}
	}
	if _, err := NewReader(bytes.NewReader(nil), "lz4"); err == nil || !strings.Contains(err.Error(), "allowed") {
		t.Errorf("NewReader(lz4) = %v", err)
	}
}

func TestDetectAndMediaType(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte{0x1f, 0x8b, 8, 0}, Gzip},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd, 0}, Zstd},
		{[]byte{0x28, 0xb5, 0x2f}, None},
		{[]byte("app/"), None},
		{nil, None},
	} {
		if got := Detect(tc.in); got != tc.want {
			t.Errorf("Detect(%x) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for alg, want := range map[string]oci.MediaType{Gzip: oci.MediaTypeLayerGzip, Zstd: oci.MediaTypeLayerZstd, None: oci.MediaTypeLayer, "x": ""} {
		if got := MediaType(alg); got != want {
			t.Errorf("MediaType(%q) = %q, want %q", alg, got, want)
		}
	}
}

// Of reads OCI's and Docker's layer types; MediaType(Of(m)) is OCI's form.
func TestOf(t *testing.T) {
	for m, want := range map[oci.MediaType]string{
		oci.MediaTypeLayerGzip:       Gzip,
		oci.MediaTypeDockerLayerGzip: Gzip,
		oci.MediaTypeLayerZstd:       Zstd,
		oci.MediaTypeLayer:           None,
	} {
		if got := Of(m); got != want {
			t.Errorf("Of(%s) = %s, want %s", m, got, want)
		}
	}
	if MediaType(Of(oci.MediaTypeDockerLayerGzip)) != oci.MediaTypeLayerGzip {
		t.Error("MediaType(Of(docker gzip)) is not OCI gzip")
	}
}

// TestDockerTypes: Docker's names map to OCI's and back, and only what
// Docker's own tools read becomes a Docker type.
func TestDockerTypes(t *testing.T) {
	for in, want := range map[oci.MediaType]oci.MediaType{
		oci.MediaTypeDockerLayerGzip:        oci.MediaTypeLayerGzip,
		oci.MediaTypeDockerLayerZstd:        oci.MediaTypeLayerZstd,
		oci.MediaTypeDockerLayer:            oci.MediaTypeLayer,
		oci.MediaTypeDockerForeignLayerGzip: oci.MediaTypeLayerNondistributableGz,
		oci.MediaTypeLayerZstd:              oci.MediaTypeLayerZstd,
		oci.MediaTypeConfig:                 oci.MediaTypeConfig,
		"":                                  "",
	} {
		if got := ToOCI(in); got != want {
			t.Errorf("ToOCI(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[oci.MediaType]oci.MediaType{
		oci.MediaTypeLayerGzip:               oci.MediaTypeDockerLayerGzip,
		oci.MediaTypeDockerLayerGzip:         oci.MediaTypeDockerLayerGzip,
		oci.MediaTypeLayer:                   oci.MediaTypeDockerLayer,
		oci.MediaTypeLayerNondistributableGz: oci.MediaTypeDockerForeignLayerGzip,
		oci.MediaTypeLayerZstd:               "",
		oci.MediaTypeDockerLayerZstd:         "",
		oci.MediaTypeConfig:                  "",
		"":                                   "",
	} {
		got, ok := DockerMediaType(in)
		if ok != (want != "") || (ok && got != want) {
			t.Errorf("DockerMediaType(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
