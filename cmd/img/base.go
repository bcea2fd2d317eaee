package main

import (
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/rules-img/rules_img/pkg/base"
	"github.com/rules-img/rules_img/pkg/stamp"
)

func init() {
	subcommands["base"] = subcommand{"describe a piece of a base image (" + strings.Join(base.Verbs(), ", ") + ") for base_image_layer", baseMain}
}

func baseMain(args []string) error {
	if len(args) == 0 || base.Generators[args[0]] == nil {
		return fmt.Errorf("usage: img base VERB --options OPTIONS.json --out DESCRIPTION.json [--target LABEL] [--var KEY=VALUE]... [--status FILE]...\nverbs: %s", strings.Join(base.Verbs(), ", "))
	}
	verb := args[0]
	fs := newSubcommandFlags("base " + verb)
	var options, out, target string
	var status repeatedFlag
	vars := keyValueFlag{}
	fs.StringVar(&options, "options", "", "the rule's attributes as JSON")
	fs.StringVar(&out, "out", "", "output: the description JSON")
	fs.StringVar(&target, "target", "", "Bazel label, for messages and merge errors")
	fs.Var(vars, "var", "KEY=VALUE template variable from build_settings (repeatable)")
	fs.Var(&status, "status", "workspace status file when stamping (repeatable)")
	if err := parseSubcommandFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "options", "out"); err != nil {
		return err
	}
	raw, err := os.ReadFile(options)
	if err != nil {
		return err
	}
	all, err := stamp.ReadStatus(status...)
	if err != nil {
		return err
	}
	maps.Copy(all, vars)
	fill := func(s string) (string, error) { return stamp.Fill(s, all, len(status) > 0) }
	entries, err := base.Generators[verb](raw, fill)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	return base.WriteDescription(out, base.Description{Target: target, Entries: entries})
}
