package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/rules-img/rules_img/pkg/deploy"
	"github.com/rules-img/rules_img/pkg/oci"
)

func init() {
	subcommands["stamp"] = subcommand{"fill {{.KEY}} templates of tags and repository from Bazel's workspace status", stampMain}
}

func stampMain(args []string) error {
	fs := newSubcommandFlags("stamp")
	var status repeatedFlag
	var target, templates, out string
	fs.StringVar(&target, "target", "", "Bazel label, for messages")
	fs.StringVar(&templates, "templates", "", "JSON {repository, tags} with templates")
	fs.Var(&status, "status", "workspace status file (stable-status.txt, volatile-status.txt); repeat")
	fs.StringVar(&out, "out", "", "output JSON")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "templates", "out"); err != nil {
		return err
	}
	b, err := os.ReadFile(templates)
	if err != nil {
		return err
	}
	var st deploy.Stamp
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", templates, err)
	}
	vars, err := deploy.ReadStatus(status...)
	if err != nil {
		return err
	}
	if st.Repository, err = deploy.Expand(st.Repository, vars); err != nil {
		return fmt.Errorf("%s: repository: %w", target, err)
	}
	for i, t := range st.Tags {
		if st.Tags[i], err = deploy.Expand(t, vars); err != nil {
			return fmt.Errorf("%s: tag: %w", target, err)
		}
	}
	return oci.WriteJSON(out, st)
}
