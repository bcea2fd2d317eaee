// Command app proves it runs on its base image: it prints a file from a base
// layer, a byte of the big base file, and the environment it inherited.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	release, err := os.ReadFile("/etc/base-release")
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
	f, err := os.Open("/opt/base/big.bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
	info, _ := f.Stat()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, info.Size()-1); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
	wd, _ := os.Getwd()
	fmt.Printf("base-release=%q big.bin=%d bytes last=%d BASE_ENV=%s APP_ENV=%s wd=%s arch=%s\n",
		strings.TrimSpace(string(release)), info.Size(), b[0], os.Getenv("BASE_ENV"), os.Getenv("APP_ENV"), wd, runtime.GOARCH)
}
