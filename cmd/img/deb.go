package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/base"
	"github.com/rules-img/rules_img/pkg/deb"
)

func init() {
	subcommands["deb"] = subcommand{"Debian packages: extract a .deb as base image content, or lock a package manifest", debMain}
}

const debUsage = `usage:
  img deb extract --deb PKG.deb --tree OUT_DIR --out DESCRIPTION.json [--target LABEL] [--usr-merged] [--status-dir /var/lib/dpkg/status.d]
  img deb lock --manifest MANIFEST.json --out LOCK.json`

func debMain(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", debUsage)
	}
	switch args[0] {
	case "extract":
		return debExtract(args[1:])
	case "lock":
		return debLock(args[1:])
	}
	return fmt.Errorf("unknown verb %q\n%s", args[0], debUsage)
}

func debExtract(args []string) error {
	fs := newSubcommandFlags("deb extract")
	var debPath, tree, out, target, statusDir string
	var usrMerged bool
	fs.StringVar(&debPath, "deb", "", "the .deb")
	fs.StringVar(&tree, "tree", "", "output: directory for the package's regular files")
	fs.StringVar(&out, "out", "", "output: the description JSON")
	fs.StringVar(&target, "target", "", "Bazel label, for messages")
	fs.BoolVar(&usrMerged, "usr-merged", false, "move /bin, /sbin and /lib* under /usr")
	fs.StringVar(&statusDir, "status-dir", "/var/lib/dpkg/status.d", "where the control file and md5sums go; empty: nowhere")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "deb", "tree", "out"); err != nil {
		return err
	}
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return err
	}
	_, entries, err := deb.Extract(debPath, deb.ExtractOptions{Tree: tree, UsrMerged: usrMerged, StatusDir: statusDir})
	if err != nil {
		return fmt.Errorf("%s: %w; the file must be a Debian binary package (.deb)", target, err)
	}
	return base.WriteDescription(out, base.Description{Target: target, Entries: entries})
}

func debLock(args []string) error {
	fs := newSubcommandFlags("deb lock")
	var manifest, out string
	fs.StringVar(&manifest, "manifest", "", "JSON {sources, architectures, packages}")
	fs.StringVar(&out, "out", "", "output: the lockfile")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "manifest", "out"); err != nil {
		return err
	}
	b, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	var m deb.Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("%s: not a package manifest: %w", manifest, err)
	}
	fetch := deb.HTTPFetcher()
	lock, err := deb.Lock(m, func(url string) ([]byte, bool, error) {
		body, ok, err := fetch(url)
		if ok {
			fmt.Fprintf(os.Stderr, "img deb lock: read %s (%d bytes)\n", url, len(body))
		}
		return body, ok, err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", manifest, err)
	}
	// Indented, one field a line: users commit it and review its diffs.
	text, err := json.MarshalIndent(lock, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(out, append(text, '\n')); err != nil {
		return err
	}
	count := map[string]int{}
	for _, p := range lock.Packages {
		count[p.Architecture]++
	}
	var parts []string
	for a, n := range count {
		parts = append(parts, fmt.Sprintf("%d for %s", n, a))
	}
	sort.Strings(parts)
	fmt.Fprintf(os.Stderr, "img deb lock: wrote %s: %s\n", out, strings.Join(parts, ", "))
	return nil
}
