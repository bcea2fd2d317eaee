// Command hello is the example service: it says where it runs.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Printf("hello from the rules_oci door on %s/%s (%s)\n", runtime.GOOS, runtime.GOARCH, os.Getenv("GREETING_SOURCE"))
}
