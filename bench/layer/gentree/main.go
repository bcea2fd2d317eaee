// Command gentree writes the deterministic file tree that bench/layer/run.sh
// packs with `img layer` and with tar + gzip/pigz/zstd.
//
// The tree is about 1 GiB and mixes what container layers usually hold:
//
//	src/    ~25,000 small source-like text files (0.3-24 KiB, compressible)
//	data/   160 medium files (0.25-3 MiB): JSON lines, CSV, low-entropy
//	        binary and incompressible random bytes
//	large/  4 files of 128 MiB built from 1 MiB chunks that are random,
//	        repetitive or text, in different proportions per file
//	dup/    byte-identical copies of some data/ files and of one 32 MiB blob
//
// Every file's bytes come from its own generator seeded with -seed and the
// file's index, so the same seed gives the same tree on every machine and Go
// release (math/rand/v2's ChaCha8 and PCG streams are fixed by the Go 1
// compatibility promise for a given seed).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	smallFiles  = 25000
	filesPerDir = 100
	mediumFiles = 160
	largeFiles  = 4
	largeSize   = 128 << 20
	chunkSize   = 1 << 20
	blobSize    = 32 << 20
	blobCopies  = 2
	mediumDups  = 8
)

// mtime is set on every file and directory so that tar's own output is
// reproducible too (img ignores host mtimes).
var mtime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("out", "", "directory to create (must not exist)")
	seed := flag.Uint64("seed", 1, "seed for every generator")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		log.Fatal("usage: gentree -out DIR [-seed N]")
	}
	if _, err := os.Lstat(*out); err == nil {
		log.Fatalf("%s already exists; remove it first", *out)
	}
	g := &gen{root: *out, seed: *seed, vocab: vocabulary(*seed)}
	g.small()
	g.medium()
	g.large()
	g.dups()
	g.touchDirs()
	fmt.Printf("gentree: %d files, %d bytes in %s\n", g.files, g.bytes, *out)
}

type gen struct {
	root         string
	seed         uint64
	vocab        []string
	files, bytes int64
	dirs         []string
}

// rng returns the generator for one file, independent of generation order.
func (g *gen) rng(kind, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed, kind<<32|i))
}

func (g *gen) chacha(kind, i uint64) *rand.ChaCha8 {
	var s [32]byte
	for j, v := range []uint64{g.seed, kind, i, 0x5eed} {
		for b := range 8 {
			s[j*8+b] = byte(v >> (8 * b))
		}
	}
	return rand.NewChaCha8(s)
}

// write creates rel and fills it with fill.
func (g *gen) write(rel string, fill func(w *bufio.Writer)) {
	full := filepath.Join(g.root, filepath.FromSlash(rel))
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(full)
	if err != nil {
		log.Fatal(err)
	}
	cw := &countWriter{w: f}
	w := bufio.NewWriterSize(cw, 256<<10)
	fill(w)
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.Chtimes(full, mtime, mtime); err != nil {
		log.Fatal(err)
	}
	g.files++
	g.bytes += cw.n
}

func (g *gen) copyFile(src, dst string) {
	in, err := os.ReadFile(filepath.Join(g.root, filepath.FromSlash(src)))
	if err != nil {
		log.Fatal(err)
	}
	g.write(dst, func(w *bufio.Writer) { w.Write(in) })
}

// touchDirs gives every directory the fixed mtime, deepest first.
func (g *gen) touchDirs() {
	var dirs []string
	err := filepath.WalkDir(g.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chtimes(dirs[i], mtime, mtime); err != nil {
			log.Fatal(err)
		}
	}
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

// --- small source-like files -----------------------------------------------

var (
	syllables = []string{"ab", "ac", "al", "an", "ar", "be", "bu", "ca", "ch", "co", "de", "di", "el", "en", "er", "ex", "fa", "fi", "ge", "ha", "in", "is", "ka", "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "no", "or", "pa", "pe", "po", "qu", "ra", "re", "ri", "ro", "sa", "se", "si", "so", "st", "ta", "te", "ti", "to", "tr", "un", "ur", "va", "ve", "wa", "xe", "yo", "za"}
	keywords  = []string{"func", "return", "if", "else", "for", "range", "var", "const", "type", "struct", "err", "nil", "int", "string", "bool", "true", "false", "self", "def", "import", "from", "class", "static", "void", "len", "make", "append"}
	puncts    = []string{" = ", ", ", "(", ")", " := ", ".", " {", "}", "[", "]", " + ", " == ", " != ", "; ", ": "}
	exts      = []string{".go", ".py", ".c", ".h", ".js", ".md", ".txt", ".json", ".yaml", ".sh"}
)

func vocabulary(seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 0xc0de))
	v := make([]string, 3000)
	for i := range v {
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		if r.IntN(3) == 0 {
			b.WriteString(strings.ToUpper(syllables[r.IntN(len(syllables))][:1]) + syllables[r.IntN(len(syllables))])
		}
		v[i] = b.String()
	}
	return v
}

// word picks from the vocabulary with a steep skew toward the front, roughly
// like identifier frequencies in real code.
func (g *gen) word(r *rand.Rand) string {
	u := r.Float64()
	return g.vocab[int(u*u*u*float64(len(g.vocab)))]
}

// textLines writes source-like lines until at least n bytes are written.
func (g *gen) textLines(w *bufio.Writer, r *rand.Rand, n int) {
	written, depth := 0, 0
	for written < n {
		var line strings.Builder
		line.WriteString(strings.Repeat("\t", depth))
		switch k := r.IntN(10); {
		case k == 0:
			line.WriteString("// " + g.word(r) + " " + g.word(r) + " " + g.word(r) + " " + g.word(r) + " " + g.word(r))
		case k == 1 && depth < 4:
			line.WriteString(keywords[r.IntN(5)] + " " + g.word(r) + " {")
			depth++
		case k == 2 && depth > 0:
			depth--
			line.Reset()
			line.WriteString(strings.Repeat("\t", depth) + "}")
		default:
			for range 2 + r.IntN(6) {
				if r.IntN(4) == 0 {
					line.WriteString(keywords[r.IntN(len(keywords))])
				} else {
					line.WriteString(g.word(r))
				}
				line.WriteString(puncts[r.IntN(len(puncts))])
			}
			if r.IntN(5) == 0 {
				fmt.Fprintf(&line, "%d", r.IntN(10000))
			}
		}
		line.WriteByte('\n')
		s := line.String()
		w.WriteString(s)
		written += len(s)
	}
}

func (g *gen) small() {
	for i := range smallFiles {
		r := g.rng(1, uint64(i))
		// Integer-only draw (no float functions whose last bits could vary
		// between Go releases): sizes from 300 B to ~24 KiB, most of them
		// small, mean ~6 KiB.
		size := 300 + r.IntN(r.IntN(24<<10)+1)
		dir := fmt.Sprintf("src/m%02d/p%03d", i/(filesPerDir*25), (i/filesPerDir)%25)
		name := fmt.Sprintf("%s/%s_%d%s", dir, g.word(r), i, exts[r.IntN(len(exts))])
		g.write(name, func(w *bufio.Writer) { g.textLines(w, r, size) })
	}
}

// --- medium files ------------------------------------------------------------

func (g *gen) medium() {
	for i := range mediumFiles {
		r := g.rng(2, uint64(i))
		size := 256<<10 + r.IntN(11<<18) // 0.25 to ~3 MiB
		switch i % 4 {
		case 0: // JSON lines
			g.write(fmt.Sprintf("data/json/records_%03d.jsonl", i), func(w *bufio.Writer) {
				for n := 0; n < size; {
					k, _ := fmt.Fprintf(w, `{"id":%d,"name":%q,"kind":%q,"score":%.3f,"tags":[%q,%q],"ok":%t}`+"\n",
						r.IntN(1<<30), g.word(r), keywords[r.IntN(len(keywords))], r.Float64()*100, g.word(r), g.word(r), r.IntN(2) == 0)
					n += k
				}
			})
		case 1: // CSV of numbers
			g.write(fmt.Sprintf("data/csv/table_%03d.csv", i), func(w *bufio.Writer) {
				for n := 0; n < size; {
					k, _ := fmt.Fprintf(w, "%d,%d,%.4f,%.2f,%s\n", n, r.IntN(100000), r.NormFloat64(), r.ExpFloat64()*50, g.word(r))
					n += k
				}
			})
		case 2: // low-entropy binary, like object code or uncompressed images
			g.write(fmt.Sprintf("data/bin/object_%03d.o", i), func(w *bufio.Writer) {
				for range size {
					u := r.Float64()
					w.WriteByte(byte(u * u * u * u * 256))
				}
			})
		case 3: // already compressed: random bytes
			c := g.chacha(2, uint64(i))
			g.write(fmt.Sprintf("data/packed/asset_%03d.bin", i), func(w *bufio.Writer) {
				io.CopyN(w, c, int64(size))
			})
		}
	}
}

// --- large files -------------------------------------------------------------

// largeMix gives, per large file, the percentage of random and of repetitive
// chunks; the rest are text.
var largeMix = [largeFiles][2]int{
	{80, 10}, // mostly incompressible, like a packed asset
	{10, 70}, // mostly repetitive, like a sparse database file
	{45, 45}, // half and half
	{10, 20}, // mostly text, like a log
}

func (g *gen) large() {
	for i := range largeFiles {
		r := g.rng(3, uint64(i))
		c := g.chacha(3, uint64(i))
		g.write(fmt.Sprintf("large/blob_%d.dat", i), func(w *bufio.Writer) {
			pattern := make([]byte, 4096)
			for chunk := 0; chunk < largeSize/chunkSize; chunk++ {
				p := r.IntN(100)
				switch {
				case p < largeMix[i][0]:
					io.CopyN(w, c, chunkSize)
				case p < largeMix[i][0]+largeMix[i][1]:
					// A 4 KiB page repeated, with a few bytes changed per page.
					c.Read(pattern[:64])
					for j := 64; j < len(pattern); j++ {
						pattern[j] = byte(j / 64)
					}
					for range chunkSize / len(pattern) {
						pattern[r.IntN(len(pattern))] = byte(r.Uint32())
						w.Write(pattern)
					}
				default:
					var buf strings.Builder
					bw := bufio.NewWriter(&buf)
					g.textLines(bw, r, chunkSize)
					bw.Flush()
					w.WriteString(buf.String()[:chunkSize])
				}
			}
		})
	}
}

// --- duplicates --------------------------------------------------------------

func (g *gen) dups() {
	c := g.chacha(4, 0)
	r := g.rng(4, 0)
	g.write("dup/blob/original.dat", func(w *bufio.Writer) {
		// Half random, half text: a duplicate worth finding.
		io.CopyN(w, c, blobSize/2)
		var buf strings.Builder
		bw := bufio.NewWriter(&buf)
		g.textLines(bw, r, blobSize/2)
		bw.Flush()
		w.WriteString(buf.String()[:blobSize/2])
	})
	for i := range blobCopies {
		g.copyFile("dup/blob/original.dat", fmt.Sprintf("dup/blob/copy_%d.dat", i))
	}
	for i := range mediumDups {
		j := i * (mediumFiles / mediumDups)
		var src string
		switch j % 4 {
		case 0:
			src = fmt.Sprintf("data/json/records_%03d.jsonl", j)
		case 1:
			src = fmt.Sprintf("data/csv/table_%03d.csv", j)
		case 2:
			src = fmt.Sprintf("data/bin/object_%03d.o", j)
		default:
			src = fmt.Sprintf("data/packed/asset_%03d.bin", j)
		}
		g.copyFile(src, fmt.Sprintf("dup/data/%d_%s", i, filepath.Base(src)))
	}
}
