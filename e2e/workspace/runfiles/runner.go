// Command runner executes the helper binary from its own runfiles and prints
// the data file beside it, proving both reached the image with the right modes.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	root := os.Args[0] + ".runfiles/_main/runfiles/"
	out, err := exec.Command(root + "helper_/helper").CombinedOutput()
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner: helper:", err)
		os.Exit(1)
	}
	// The same binary, placed through a filegroup.
	if err := exec.Command("/usr/local/bin/helper").Run(); err != nil {
		fmt.Fprintln(os.Stderr, "runner: helper through a filegroup:", err)
		os.Exit(1)
	}
	data, err := os.ReadFile(root + "data.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
	fmt.Printf("runner: %s; data: %s\n", strings.TrimSpace(string(out)), strings.TrimSpace(string(data)))
}
