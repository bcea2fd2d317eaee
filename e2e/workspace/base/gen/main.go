// gen writes deterministic, incompressible pseudo-random bytes: the content of
// the e2e base image's big layer. The same seed always gives the same bytes,
// so the layer's digest is stable across builds and platforms.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
)

func main() {
	out := flag.String("out", "", "file to write")
	mib := flag.Int("mib", 576, "size in MiB")
	seed := flag.String("seed", "rules_img e2e base", "seed (at most 32 bytes)")
	flag.Parse()
	if *out == "" || len(*seed) > 32 || *mib < 0 {
		fmt.Fprintln(os.Stderr, "usage: gen --out FILE [--mib N] [--seed S (<= 32 bytes)]")
		os.Exit(2)
	}
	var key [32]byte
	copy(key[:], *seed)
	rng := rand.NewChaCha8(key)

	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	chunk := make([]byte, 1<<20)
	for i := 0; i < *mib; i++ {
		rng.Read(chunk)
		if _, err := w.Write(chunk); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := w.Flush(); err == nil {
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
