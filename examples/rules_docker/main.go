// Command hello is the example service: it prints its greeting file.
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
	fmt.Printf("%s on %s/%s (%s)\n", strings.TrimSpace(string(greeting)), runtime.GOOS, runtime.GOARCH, os.Getenv("GREETING_SOURCE"))
}
