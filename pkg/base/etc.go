package base

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/rules-img/rules_img/pkg/layer"
)

// ordered is a map that remembers the order keys first arrived in, as
// distributions' files and Starlark dicts do.
type ordered struct {
	keys   []string
	values map[string]string
}

func (o *ordered) set(k, v string) {
	if o.values == nil {
		o.values = map[string]string{}
	}
	if _, ok := o.values[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.values[k] = v
}

// mergeKeyValues reads KEY=VALUE files in order, then sets the rule's own
// pairs, templates filled: a later file wins, and the pairs win over all.
func mergeKeyValues(attr string, srcPaths []string, pairs []Pair, fill Filler) (*ordered, error) {
	vars := &ordered{}
	srcs, err := readFiles(srcPaths)
	if err != nil {
		return nil, err
	}
	for _, text := range srcs {
		keyValues(text, vars)
	}
	filled, err := fillPairs(attr, pairs, fill)
	if err != nil {
		return nil, err
	}
	for _, p := range filled {
		vars.set(p.Key, p.Value)
	}
	return vars, nil
}

// fillPairs fills the templates in pairs' values.
func fillPairs(attr string, pairs []Pair, fill Filler) ([]Pair, error) {
	out := make([]Pair, len(pairs))
	for i, p := range pairs {
		v, err := fill(p.Value)
		if err != nil {
			return nil, fmt.Errorf("%s[%q]: %w", attr, p.Key, err)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			return nil, fmt.Errorf("%s[%q]: the value holds a line break; one line per key is all the file can hold", attr, p.Key)
		}
		out[i] = Pair{p.Key, v}
	}
	return out, nil
}

// HostsOptions are etc_hosts' attributes.
type HostsOptions struct {
	Hosts           []Pair   `json:"hosts"`
	Srcs            []string `json:"srcs"`
	IncludeDefaults bool     `json:"include_defaults"`
	Mode            string   `json:"mode"`
	Path            string   `json:"path"`
}

// defaultHosts are the loopback names netbase ships.
var defaultHosts = []Pair{
	{"127.0.0.1", "localhost"},
	{"::1", "localhost ip6-localhost ip6-loopback"},
	{"ff02::1", "ip6-allnodes"},
	{"ff02::2", "ip6-allrouters"},
}

// Hosts writes /etc/hosts. Names accumulate per address, so the loopback
// defaults and a rule's own names for 127.0.0.1 share a line.
func Hosts(raw []byte, fill Filler) ([]layer.Entry, error) {
	var o HostsOptions
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	mode, err := fileAttrs(o.Mode, 0o644, map[string]string{"path": o.Path})
	if err != nil {
		return nil, err
	}
	var addrs []string
	names := map[string][]string{}
	add := func(addr string, fields []string) {
		if _, ok := names[addr]; !ok {
			addrs = append(addrs, addr)
			names[addr] = []string{}
		}
		for _, n := range fields {
			if !slices.Contains(names[addr], n) {
				names[addr] = append(names[addr], n)
			}
		}
	}
	if o.IncludeDefaults {
		for _, p := range defaultHosts {
			add(p.Key, strings.Fields(p.Value))
		}
	}
	srcs, err := readFiles(o.Srcs)
	if err != nil {
		return nil, err
	}
	for _, text := range srcs {
		for _, line := range strings.Split(text, "\n") {
			line, _, _ = strings.Cut(line, "#")
			if f := strings.Fields(line); len(f) > 1 {
				add(f[0], f[1:])
			}
		}
	}
	hosts, err := fillPairs("hosts", o.Hosts, fill)
	if err != nil {
		return nil, err
	}
	for _, p := range hosts {
		if strings.ContainsAny(p.Key, " \t#") || p.Key == "" {
			return nil, fmt.Errorf("hosts: %q is not an address", p.Key)
		}
		add(p.Key, strings.Fields(p.Value))
	}
	var b strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&b, "%s\t%s\n", a, strings.Join(names[a], " "))
	}
	return []layer.Entry{file(o.Path, b.String(), mode)}, nil
}

// EnvironmentOptions are etc_environment's attributes.
type EnvironmentOptions struct {
	Env   []Pair   `json:"env"`
	Srcs  []string `json:"srcs"`
	Mode  string   `json:"mode"`
	Path  string   `json:"path"`
	Quote bool     `json:"quote"`
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// keyValues reads KEY=VALUE lines (shell-style quotes around the value are
// taken off), skipping blank lines and comments.
func keyValues(text string, into *ordered) {
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			quote := v[0]
			v = v[1 : len(v)-1]
			if quote == '"' {
				v = unescape(v)
			}
		}
		into.set(k, v)
	}
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Environment writes /etc/environment, read by PAM: literal KEY="value"
// lines, later sources winning and env winning over all files.
func Environment(raw []byte, fill Filler) ([]layer.Entry, error) {
	var o EnvironmentOptions
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	mode, err := fileAttrs(o.Mode, 0o644, map[string]string{"path": o.Path})
	if err != nil {
		return nil, err
	}
	vars, err := mergeKeyValues("env", o.Srcs, o.Env, fill)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, k := range vars.keys {
		v := vars.values[k]
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("env: %q is not a variable name (letters, digits and _, not starting with a digit)", k)
		}
		if o.Quote {
			if strings.Contains(v, `"`) {
				return nil, fmt.Errorf("env[%q]: the value holds a '\"', which pam_env cannot read inside quotes; set quote = False", k)
			}
			v = `"` + v + `"`
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return []layer.Entry{file(o.Path, b.String(), mode)}, nil
}

// ReleaseOptions are etc_release's attributes.
type ReleaseOptions struct {
	OSRelease       []Pair   `json:"os_release"`
	OSReleaseSrcs   []string `json:"os_release_srcs"`
	OSReleasePath   string   `json:"os_release_path"`
	UsrLibPath      string   `json:"usr_lib_path"`
	UsrLibSymlink   bool     `json:"usr_lib_symlink"`
	LSBRelease      []Pair   `json:"lsb_release"`
	LSBReleaseSrcs  []string `json:"lsb_release_srcs"`
	LSBReleasePath  string   `json:"lsb_release_path"`
	WriteLSBRelease bool     `json:"write_lsb_release"`
	Mode            string   `json:"mode"`
}

// quoteRelease quotes a value as os-release(5) reads it.
func quoteRelease(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(v) + `"`
}

func releaseFile(attr string, srcPaths []string, pairs []Pair, fill Filler) (string, error) {
	for _, p := range pairs {
		if !envName.MatchString(p.Key) {
			return "", fmt.Errorf("%s: %q is not a key (letters, digits and _)", attr, p.Key)
		}
	}
	vars, err := mergeKeyValues(attr, srcPaths, pairs, fill)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, k := range vars.keys {
		fmt.Fprintf(&b, "%s=%s\n", k, quoteRelease(vars.values[k]))
	}
	return b.String(), nil
}

// Release writes os-release (the real file under /usr/lib, /etc/os-release
// a relative link to it, as os-release(5) says) and optionally lsb-release.
func Release(raw []byte, fill Filler) ([]layer.Entry, error) {
	var o ReleaseOptions
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	mode, err := fileAttrs(o.Mode, 0o644, map[string]string{"os_release_path": o.OSReleasePath, "usr_lib_path": o.UsrLibPath, "lsb_release_path": o.LSBReleasePath})
	if err != nil {
		return nil, err
	}
	text, err := releaseFile("os_release", o.OSReleaseSrcs, o.OSRelease, fill)
	if err != nil {
		return nil, err
	}
	var out []layer.Entry
	if o.UsrLibSymlink {
		out = append(out, file(o.UsrLibPath, text, mode), symlink(o.OSReleasePath, relative(path.Dir(o.OSReleasePath), o.UsrLibPath)))
	} else {
		out = append(out, file(o.OSReleasePath, text, mode))
	}
	if o.WriteLSBRelease {
		text, err := releaseFile("lsb_release", o.LSBReleaseSrcs, o.LSBRelease, fill)
		if err != nil {
			return nil, err
		}
		out = append(out, file(o.LSBReleasePath, text, mode))
	}
	return out, nil
}

// relative is the link from directory from to the absolute path to.
func relative(from, to string) string {
	f := strings.Split(strings.Trim(from, "/"), "/")
	t := strings.Split(strings.Trim(to, "/"), "/")
	if from == "/" {
		f = nil
	}
	i := 0
	for i < len(f) && i < len(t)-1 && f[i] == t[i] {
		i++
	}
	return strings.Repeat("../", len(f)-i) + strings.Join(t[i:], "/")
}
