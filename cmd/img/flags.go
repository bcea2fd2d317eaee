package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// repeatedFlag collects every value of a flag given several times, in order.
type repeatedFlag []string

func (r *repeatedFlag) String() string { return strings.Join(*r, ",") }

func (r *repeatedFlag) Set(v string) error {
	*r = append(*r, v)
	return nil
}

// keyValueFlag collects KEY=VALUE pairs; a key given twice is an error
// rather than a silent overwrite.
type keyValueFlag map[string]string

func (kv keyValueFlag) String() string { return fmt.Sprint(map[string]string(kv)) }

func (kv keyValueFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	if _, dup := kv[k]; dup {
		return fmt.Errorf("key %q given twice", k)
	}
	kv[k] = val
	return nil
}

// newSubcommandFlags returns a FlagSet that reports errors instead of exiting, so
// main prints them in its usual form.
func newSubcommandFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("img "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseSubcommandFlags parses args and rejects positional arguments, which every
// subcommand here would otherwise ignore.
func parseSubcommandFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// requireSubcommandFlags reports the first of names that was not given.
func requireSubcommandFlags(fs *flag.FlagSet, names ...string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, n := range names {
		if !given[n] {
			return fmt.Errorf("--%s is required", n)
		}
	}
	return nil
}
