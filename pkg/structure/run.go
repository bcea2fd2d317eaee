package structure

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// maxLinks bounds symlink hops while a path is looked up.
const maxLinks = 16

// Named is a config file with the name its results are reported under.
type Named struct {
	Name   string
	Config *Config
}

// Run runs every config against every image, writes one line per test to
// w, and reports whether all passed. An error means the tests could not run.
func Run(w io.Writer, configs []Named, images []Image) (bool, error) {
	ok := true
	for _, img := range images {
		b, err := os.ReadFile(img.Config)
		if err != nil {
			return false, err
		}
		var cfg oci.ImageConfig
		if err := json.Unmarshal(b, &cfg); err != nil {
			return false, fmt.Errorf("%s: image config: %w", img.Platform, err)
		}
		r := &runner{w: w, img: img, cfg: cfg.Config, ok: true}
		for _, c := range configs {
			if err := r.run(c); err != nil {
				return false, err
			}
		}
		ok = ok && r.ok
	}
	return ok, nil
}

type runner struct {
	w   io.Writer
	img Image
	cfg oci.ContainerConfig
	ok  bool
}

func (r *runner) report(test string, problems []string) {
	prefix := ""
	if r.img.Platform != "" {
		prefix = "[" + r.img.Platform + "] "
	}
	if len(problems) == 0 {
		fmt.Fprintf(r.w, "PASS %s%s\n", prefix, test)
		return
	}
	r.ok = false
	for _, p := range problems {
		fmt.Fprintf(r.w, "FAIL %s%s: %s\n", prefix, test, p)
	}
}

func (r *runner) run(c Named) error {
	cfg := c.Config
	for i, t := range cfg.CommandTests {
		r.report(fmt.Sprintf("%s: commandTests[%d] %q", c.Name, i, t.Name),
			[]string{"command tests run commands in a container, which a hermetic Bazel test cannot start; run container-structure-test against a loaded image for them, or remove the test"})
	}
	for i, t := range cfg.LicenseTests {
		r.report(fmt.Sprintf("%s: licenseTests[%d] %q", c.Name, i, t.Name), []string{"license tests are not supported; remove the test"})
	}
	if m := cfg.MetadataTest; m != nil {
		r.report(c.Name+": metadataTest", r.metadata(m))
	}
	paths := map[string]bool{} // path -> whether a content test needs its bytes
	for _, t := range cfg.FileExistenceTests {
		paths[clean(t.Path)] = false
	}
	for _, t := range cfg.FileContentTests {
		paths[clean(t.Path)] = true
	}
	if len(paths) == 0 {
		return nil
	}
	found, err := r.resolve(paths)
	if err != nil {
		return err
	}
	for i, t := range cfg.FileExistenceTests {
		r.report(fmt.Sprintf("%s: fileExistenceTests[%d] %q", c.Name, i, t.Name), existence(t, found[clean(t.Path)]))
	}
	for i, t := range cfg.FileContentTests {
		r.report(fmt.Sprintf("%s: fileContentTests[%d] %q", c.Name, i, t.Name), content(t, found[clean(t.Path)]))
	}
	return nil
}

// resolve looks the paths up, following symlinked parents, and for content
// tests the file's own symlinks, to what they point at.
func (r *runner) resolve(paths map[string]bool) (map[string]*entry, error) {
	final := map[string]*entry{}
	alias := map[string]string{} // asked path -> path now looked up
	for p := range paths {
		alias[p] = p
	}
	for hop := 0; hop <= maxLinks; hop++ {
		want := map[string]bool{}
		for p, at := range alias {
			want[at] = want[at] || paths[p]
		}
		if len(want) == 0 {
			return final, nil
		}
		got, err := lookup(r.img, want)
		if err != nil {
			return nil, err
		}
		for p, at := range alias {
			e := got[at]
			switch {
			case e.through != "":
				alias[p] = e.through
			case paths[p] && e.hdr != nil && e.hdr.Typeflag == tar.TypeSymlink:
				target := e.hdr.Linkname
				if !strings.HasPrefix(target, "/") {
					target = path.Join(path.Dir(at), target)
				}
				alias[p] = clean(target)
			default:
				final[p] = e
				delete(alias, p)
			}
		}
	}
	for p := range alias {
		final[p] = &entry{}
	}
	return final, nil
}

func existence(t FileExistenceTest, e *entry) []string {
	should := t.ShouldExist == nil || *t.ShouldExist
	if e.hdr == nil {
		if should {
			return []string{fmt.Sprintf("/%s: expected to exist, but the image does not hold it", clean(t.Path))}
		}
		return nil
	}
	if !should {
		return []string{fmt.Sprintf("/%s: expected not to exist, but the image holds it (%s)", clean(t.Path), e.hdr.FileInfo().Mode())}
	}
	var out []string
	mode := e.hdr.FileInfo().Mode()
	if t.Permissions != "" && mode.String() != t.Permissions {
		out = append(out, fmt.Sprintf("/%s: permissions: expected %s, got %s", clean(t.Path), t.Permissions, mode))
	}
	if t.UID != nil && int64(e.hdr.Uid) != *t.UID {
		out = append(out, fmt.Sprintf("/%s: uid: expected %d, got %d", clean(t.Path), *t.UID, e.hdr.Uid))
	}
	if t.GID != nil && int64(e.hdr.Gid) != *t.GID {
		out = append(out, fmt.Sprintf("/%s: gid: expected %d, got %d", clean(t.Path), *t.GID, e.hdr.Gid))
	}
	if t.IsExecutableBy != "" {
		bits := map[string]int64{"owner": 0o100, "group": 0o010, "other": 0o001, "any": 0o111}[t.IsExecutableBy]
		switch {
		case bits == 0:
			out = append(out, fmt.Sprintf("isExecutableBy: %q is not owner, group, other or any", t.IsExecutableBy))
		case e.hdr.Mode&bits == 0:
			out = append(out, fmt.Sprintf("/%s: expected to be executable by %s, but its mode is %s", clean(t.Path), t.IsExecutableBy, mode))
		}
	}
	return out
}

func content(t FileContentTest, e *entry) []string {
	if e.hdr == nil {
		return []string{fmt.Sprintf("/%s: expected a file, but the image does not hold it", clean(t.Path))}
	}
	if e.content == nil && e.hdr.Size > 0 {
		return []string{fmt.Sprintf("/%s: expected a file, but it is a %s", clean(t.Path), e.hdr.FileInfo().Mode().Type())}
	}
	var out []string
	for _, re := range t.ExpectedContents {
		x, err := regexp.Compile(re)
		if err != nil {
			out = append(out, fmt.Sprintf("expectedContents %q: %v", re, err))
		} else if !x.Match(e.content) {
			out = append(out, fmt.Sprintf("/%s: expected content matching %q, got %s", clean(t.Path), re, excerpt(e.content)))
		}
	}
	for _, re := range t.ExcludedContents {
		x, err := regexp.Compile(re)
		if err != nil {
			out = append(out, fmt.Sprintf("excludedContents %q: %v", re, err))
		} else if m := x.Find(e.content); m != nil {
			out = append(out, fmt.Sprintf("/%s: expected no content matching %q, found %q", clean(t.Path), re, excerpt(m)))
		}
	}
	return out
}

func excerpt(b []byte) string {
	const max = 200
	if len(b) > max {
		return fmt.Sprintf("%q… (%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func (r *runner) metadata(m *MetadataTest) []string {
	var out []string
	env := map[string]string{}
	for _, kv := range r.cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	check := func(what string, have map[string]string, want []KeyValue) {
		for _, kv := range want {
			v, ok := have[kv.Key]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s %s: expected %q, but it is not set", what, kv.Key, kv.Value))
			case kv.IsRegex:
				if x, err := regexp.Compile(kv.Value); err != nil {
					out = append(out, fmt.Sprintf("%s %s: %v", what, kv.Key, err))
				} else if !x.MatchString(v) {
					out = append(out, fmt.Sprintf("%s %s: expected a match of %q, got %q", what, kv.Key, kv.Value, v))
				}
			case v != kv.Value:
				out = append(out, fmt.Sprintf("%s %s: expected %q, got %q", what, kv.Key, kv.Value, v))
			}
		}
	}
	check("env", env, append(slices.Clone(m.EnvVars), m.Env...))
	check("label", r.cfg.Labels, m.Labels)
	if m.Entrypoint != nil && !slices.Equal(*m.Entrypoint, r.cfg.Entrypoint) {
		out = append(out, fmt.Sprintf("entrypoint: expected %q, got %q", *m.Entrypoint, r.cfg.Entrypoint))
	}
	if m.Cmd != nil && !slices.Equal(*m.Cmd, r.cfg.Cmd) {
		out = append(out, fmt.Sprintf("cmd: expected %q, got %q", *m.Cmd, r.cfg.Cmd))
	}
	port := func(p string) bool {
		_, a := r.cfg.ExposedPorts[p]
		_, b := r.cfg.ExposedPorts[p+"/tcp"]
		return a || b
	}
	for _, p := range m.ExposedPorts {
		if !port(p) {
			out = append(out, fmt.Sprintf("exposedPorts: expected %s, got %s", p, keys(r.cfg.ExposedPorts)))
		}
	}
	for _, p := range m.UnexposedPorts {
		if port(p) {
			out = append(out, fmt.Sprintf("unexposedPorts: expected %s not to be exposed", p))
		}
	}
	for _, v := range m.Volumes {
		if _, ok := r.cfg.Volumes[v]; !ok {
			out = append(out, fmt.Sprintf("volumes: expected %s, got %s", v, keys(r.cfg.Volumes)))
		}
	}
	if m.Workdir != nil && *m.Workdir != r.cfg.WorkingDir {
		out = append(out, fmt.Sprintf("workdir: expected %q, got %q", *m.Workdir, r.cfg.WorkingDir))
	}
	if m.User != nil && *m.User != r.cfg.User {
		out = append(out, fmt.Sprintf("user: expected %q, got %q", *m.User, r.cfg.User))
	}
	return out
}

func keys(m map[string]struct{}) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	if ks == nil {
		return "none"
	}
	return "[" + strings.Join(ks, " ") + "]"
}
