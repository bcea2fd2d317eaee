package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/deploy"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/stamp"
)

func init() {
	subcommands["stamp"] = subcommand{"fill {{.KEY}} templates of the registry, repository and tags from build settings, the image digest and Bazel's workspace status", stampMain}
}

func stampMain(args []string) error {
	fs := newSubcommandFlags("stamp")
	var status repeatedFlag
	var target, templates, descriptor, out string
	fs.StringVar(&target, "target", "", "Bazel label, for messages")
	fs.StringVar(&templates, "templates", "", "JSON {registry, repository, tags, vars} with templates")
	fs.StringVar(&descriptor, "descriptor", "", "descriptor JSON of the image, for {{.digest}}")
	fs.Var(&status, "status", "workspace status file (stable-status.txt, volatile-status.txt); repeat; none: not stamping")
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
	var t deploy.Templates
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("%s: %w", templates, err)
	}
	vars, err := stamp.ReadStatus(status...)
	if err != nil {
		return err
	}
	// Build settings and the digest win over a status key of the same name.
	maps.Copy(vars, t.Vars)
	if descriptor != "" {
		d, err := oci.ReadDescriptor(descriptor)
		if err != nil {
			return err
		}
		vars["digest"] = d.Digest
	}
	filled, err := t.Fill(vars, len(status) > 0)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	return atomicfile.WriteJSON(out, filled)
}
