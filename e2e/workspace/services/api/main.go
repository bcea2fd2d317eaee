// Command api is one of two services that share a package and a macro.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Printf("api %s on %s/%s\n", os.Getenv("SERVICE_MODE"), runtime.GOOS, runtime.GOARCH)
}
