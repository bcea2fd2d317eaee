// Command app prints its arguments, so a test sees what cmd the image got.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	fmt.Printf("app on %s/%s args=%s\n", runtime.GOOS, runtime.GOARCH, strings.Join(os.Args[1:], " "))
}
