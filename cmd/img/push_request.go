package main

import (
	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/deploy"
)

func init() {
	subcommands["push-request"] = subcommand{"write a push request: a push spec with its image files inline, for the bes push strategy", pushRequestMain}
}

func pushRequestMain(args []string) error {
	fs := newSubcommandFlags("push-request")
	var spec, out string
	fs.StringVar(&spec, "spec", "", "push spec whose paths are relative to the working directory (the execution root)")
	fs.StringVar(&out, "out", "", "output: the push request JSON (name ends with "+deploy.RequestSuffix+")")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "spec", "out"); err != nil {
		return err
	}
	s, err := deploy.ReadSpec(spec, "")
	if err != nil {
		return err
	}
	b, err := s.Request()
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(out, b)
}
