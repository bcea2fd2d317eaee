// Command img is rules_img's one helper tool. Each subcommand parses its flags
// and makes one call into a package under pkg/.
package main

import (
	"fmt"
	"os"
	"sort"
)

// version is stamped by the release process; builds from source say "dev".
var version = "dev"

type subcommand struct {
	summary string
	run     func(args []string) error
}

var subcommands = map[string]subcommand{
	"version": {"print the tool's version", func([]string) error {
		fmt.Println("img", version)
		return nil
	}},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: img <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-15s %s\n", n, subcommands[n].summary)
	}
}

func main() {
	args, err := expandParams(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "img: %v\n", err)
		os.Exit(2)
	}
	os.Args = append(os.Args[:1], args...)
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := subcommands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "img: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "img %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
