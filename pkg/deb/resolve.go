package deb

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Dep is one alternative of a dependency: a name with an optional version
// relation.
type Dep struct {
	Name, Op, Version string
}

func (d Dep) String() string {
	if d.Op == "" {
		return d.Name
	}
	return fmt.Sprintf("%s (%s %s)", d.Name, d.Op, d.Version)
}

var depRE = regexp.MustCompile(`^([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([0-9][^)\s]*)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$`)

// ParseDeps reads a Depends-style field: groups separated by commas, each
// a list of alternatives separated by "|".
func ParseDeps(field string) ([][]Dep, error) {
	var out [][]Dep
	for _, group := range strings.Split(field, ",") {
		group = strings.TrimSpace(strings.ReplaceAll(group, "\n", " "))
		if group == "" {
			continue
		}
		var alts []Dep
		for _, alt := range strings.Split(group, "|") {
			m := depRE.FindStringSubmatch(strings.TrimSpace(alt))
			if m == nil {
				return nil, fmt.Errorf("%q is not a dependency (name, optionally (op version))", strings.TrimSpace(alt))
			}
			alts = append(alts, Dep{m[1], m[2], m[3]})
		}
		out = append(out, alts)
	}
	return out, nil
}

// Index is one architecture's view of Packages indexes: its own packages
// and Architecture: all ones, by name and by what they provide.
type Index struct {
	Arch     string
	byName   map[string][]Paragraph
	provides map[string][]provider
}

type provider struct {
	pkg     Paragraph
	version string // the version it provides, "" for unversioned
}

// NewIndex indexes the paragraphs of Packages files for arch. Source is
// recorded in each paragraph's "X-Source" field by the caller.
func NewIndex(arch string, paras []Paragraph) (*Index, error) {
	ix := &Index{Arch: arch, byName: map[string][]Paragraph{}, provides: map[string][]provider{}}
	for _, p := range paras {
		if a := p["Architecture"]; a != arch && a != "all" {
			continue
		}
		ix.byName[p["Package"]] = append(ix.byName[p["Package"]], p)
		if p["Provides"] == "" {
			continue
		}
		provs, err := ParseDeps(p["Provides"])
		if err != nil {
			return nil, fmt.Errorf("package %s: Provides: %w", p["Package"], err)
		}
		for _, g := range provs {
			for _, d := range g {
				ix.provides[d.Name] = append(ix.provides[d.Name], provider{p, d.Version})
			}
		}
	}
	for _, ps := range ix.byName {
		sort.SliceStable(ps, func(i, j int) bool { return Compare(ps[i]["Version"], ps[j]["Version"]) > 0 })
	}
	return ix, nil
}

// candidates are the packages that satisfy d, best first: the newest real
// package, then providers (by name, for one answer on every machine).
func (ix *Index) candidates(d Dep) []Paragraph {
	var out []Paragraph
	for _, p := range ix.byName[d.Name] {
		if Satisfies(p["Version"], d.Op, d.Version) {
			out = append(out, p)
		}
	}
	// Among providers, apt's preference: the higher priority (mawk, which is
	// required, before gawk for awk), then the name.
	provs := append([]provider(nil), ix.provides[d.Name]...)
	sort.SliceStable(provs, func(i, j int) bool {
		pi, pj := priorityRank(provs[i].pkg["Priority"]), priorityRank(provs[j].pkg["Priority"])
		if pi != pj {
			return pi < pj
		}
		return provs[i].pkg["Package"] < provs[j].pkg["Package"]
	})
	for _, pv := range provs {
		if d.Op == "" || (pv.version != "" && Satisfies(pv.version, d.Op, d.Version)) {
			out = append(out, pv.pkg)
		}
	}
	return out
}

func priorityRank(p string) int {
	switch p {
	case "required":
		return 0
	case "important":
		return 1
	case "standard":
		return 2
	case "optional":
		return 3
	}
	return 4
}

// satisfiedBy reports whether the selected package p satisfies d.
func satisfiedBy(p Paragraph, d Dep) bool {
	if p["Package"] == d.Name && Satisfies(p["Version"], d.Op, d.Version) {
		return true
	}
	provs, _ := ParseDeps(p["Provides"])
	for _, g := range provs {
		for _, pv := range g {
			if pv.Name == d.Name && (d.Op == "" || (pv.Version != "" && Satisfies(pv.Version, d.Op, d.Version))) {
				return true
			}
		}
	}
	return false
}

// Resolved is a package chosen for the lockfile with the names of the
// packages it depends on.
type Resolved struct {
	Paragraph
	Depends []string
}

// Resolve picks the packages requests need, with their Depends and
// Pre-Depends (Recommends are left out, as distroless images do), and
// returns them dependencies first. Cycles through Depends are allowed (no
// maintainer script runs in an image build); a cycle through Pre-Depends
// is an error, as dpkg could not order it either.
func (ix *Index) Resolve(requests []string) ([]Resolved, error) {
	selected := map[string]Paragraph{}
	edges := map[string][]string{} // package -> packages it depends on
	pre := map[string][]string{}   // Pre-Depends edges only
	type job struct {
		group []Dep
		from  string // "" for the manifest
		pre   bool
	}
	var queue []job
	for _, r := range requests {
		g, err := ParseDeps(r)
		if err != nil || len(g) != 1 {
			return nil, fmt.Errorf("manifest package %q: write a name, optionally with (op version)", r)
		}
		queue = append(queue, job{group: g[0]})
	}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		chosen := ""
		chosenNames := make([]string, 0, len(selected))
		for n := range selected {
			chosenNames = append(chosenNames, n)
		}
		sort.Strings(chosenNames)
		for _, d := range j.group {
			for _, name := range chosenNames {
				if satisfiedBy(selected[name], d) {
					chosen = name
					break
				}
			}
			if chosen != "" {
				break
			}
		}
		if chosen == "" {
			for _, d := range j.group {
				cands := ix.candidates(d)
				if len(cands) == 0 {
					continue
				}
				p := cands[0]
				if prev, ok := selected[p["Package"]]; ok {
					return nil, fmt.Errorf("%s needs %s, but %s %s is already chosen for another dependency; pin one version in the manifest", who(j.from), d, prev["Package"], prev["Version"])
				}
				selected[p["Package"]] = p
				chosen = p["Package"]
				for _, field := range []string{"Pre-Depends", "Depends"} {
					groups, err := ParseDeps(p[field])
					if err != nil {
						return nil, fmt.Errorf("package %s %s: %s: %w", p["Package"], p["Version"], field, err)
					}
					for _, g := range groups {
						queue = append(queue, job{group: g, from: p["Package"], pre: field == "Pre-Depends"})
					}
				}
				break
			}
		}
		if chosen == "" {
			return nil, ix.unsatisfiable(j.group, j.from)
		}
		if j.from != "" && chosen != j.from {
			edges[j.from] = append(edges[j.from], chosen)
			if j.pre {
				pre[j.from] = append(pre[j.from], chosen)
			}
		}
	}
	if cycle := findCycle(pre); cycle != nil {
		return nil, fmt.Errorf("dependency cycle through Pre-Depends: %s; no installation order exists: drop one of them from the manifest or pin versions without the cycle", strings.Join(cycle, " -> "))
	}
	// Dependencies first; among equals, by name.
	names := make([]string, 0, len(selected))
	for n := range selected {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Resolved
	done := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		deps := append([]string(nil), edges[n]...)
		sort.Strings(deps)
		deps = compactStrings(deps)
		for _, d := range deps {
			visit(d)
		}
		out = append(out, Resolved{selected[n], deps})
	}
	for _, n := range names {
		visit(n)
	}
	return out, nil
}

func who(from string) string {
	if from == "" {
		return "the manifest"
	}
	return "package " + from
}

func compactStrings(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// unsatisfiable explains why no alternative of group can be had.
func (ix *Index) unsatisfiable(group []Dep, from string) error {
	var alts []string
	for _, d := range group {
		alts = append(alts, d.String())
	}
	want := strings.Join(alts, " | ")
	for _, d := range group {
		if ps := ix.byName[d.Name]; len(ps) > 0 {
			var have []string
			for _, p := range ps {
				have = append(have, p["Version"])
			}
			return fmt.Errorf("unsatisfiable version: %s needs %s, but the index for %s has %s %s; relax the version or add a source that has one", who(from), want, ix.Arch, d.Name, strings.Join(have, ", "))
		}
	}
	return fmt.Errorf("package %s (needed by %s) is in no Packages index of the sources for %s; check the name, or add the source or component that has it", want, strings.TrimPrefix(who(from), "package "), ix.Arch)
}

// findCycle returns a cycle in g as a path that ends where it starts, or nil.
func findCycle(g map[string][]string) []string {
	const (
		unseen = iota
		active
		finished
	)
	state := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(string) bool
	visit = func(n string) bool {
		state[n] = active
		stack = append(stack, n)
		next := append([]string(nil), g[n]...)
		sort.Strings(next)
		for _, m := range next {
			switch state[m] {
			case active:
				for i, s := range stack {
					if s == m {
						cycle = append(append([]string(nil), stack[i:]...), m)
					}
				}
				return true
			case unseen:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = finished
		return false
	}
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if state[k] == unseen && visit(k) {
			return cycle
		}
	}
	return nil
}
