// Command hello is the example service: it prints its configuration and exits.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	motd, err := os.ReadFile("/etc/hello/motd")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello: no motd:", err)
		os.Exit(1)
	}
	fmt.Printf("%s (%s/%s, user %d, HELLO_ENV=%s)\n",
		strings.TrimSpace(string(motd)), runtime.GOOS, runtime.GOARCH, os.Getuid(), os.Getenv("HELLO_ENV"))
}
