// Command runinfo prints what its container hands it: its arguments, one
// environment variable, its working directory and a runfile read from there.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	wd, _ := os.Getwd()
	data, err := os.ReadFile("upstream/bin/data.txt")
	if err != nil {
		data = []byte("no runfile: " + err.Error())
	}
	fmt.Printf("args=%s env=%s,%s wd=%s data=%s\n", strings.Join(os.Args[1:], ","), os.Getenv("RUNINFO"), os.Getenv("EXTRA"), wd, strings.TrimSpace(string(data)))
}
