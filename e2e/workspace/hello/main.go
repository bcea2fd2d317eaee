// Command hello proves an image runs: it prints its greeting file and arguments.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	greeting, err := os.ReadFile("/etc/hello/greeting.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("%s from %s/%s args=%s\n", strings.TrimSpace(string(greeting)), runtime.GOOS, runtime.GOARCH, strings.Join(os.Args[1:], ","))
}
