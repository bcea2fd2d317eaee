// Command worker is the second service in the package.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Printf("worker %s on %s/%s\n", os.Getenv("SERVICE_MODE"), runtime.GOOS, runtime.GOARCH)
}
