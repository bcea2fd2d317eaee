// Package gateway is a registry gateway for build actions: clients speak
// the distribution API to it without credentials and name the registry in
// the X-rules_img-Original-Host header; the gateway checks each request
// against a policy and forwards it with its own credentials. Its policy file
// has upstream rules_img's oci-distribution-gateway schema.
package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// The operations a rule speaks to.
const (
	BlobRead      = "blob:read"
	BlobWrite     = "blob:write"
	ManifestRead  = "manifest:read"
	ManifestWrite = "manifest:write"
)

var operations = []string{BlobRead, BlobWrite, ManifestRead, ManifestWrite}

// Policy decides which requests the gateway forwards: the first rule that
// matches wins, and DefaultAction decides the rest.
type Policy struct {
	Version       int    `json:"version"`
	DefaultAction string `json:"defaultAction"`
	Rules         []Rule `json:"rules"`
}

// Rule allows or denies operations on repositories of registries.
type Rule struct {
	Description string   `json:"description,omitempty"`
	Action      string   `json:"action"`     // allow or deny
	Registry    string   `json:"registry"`   // a host, *.suffix, or *
	Repository  string   `json:"repository"` // a glob: * within a segment, ** across, ? one character
	Operations  []string `json:"operations"` // blob:read, blob:write, manifest:read, manifest:write, or *
}

// LoadPolicy reads and checks a policy file (JSON).
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy %s: not the policy's JSON: %w (write JSON; YAML is not read here)", path, err)
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return &p, nil
}

func (p *Policy) check() error {
	if p.Version != 1 {
		return fmt.Errorf("version %d: only version 1 is known", p.Version)
	}
	switch p.DefaultAction {
	case "":
		p.DefaultAction = "deny"
	case "allow", "deny":
	default:
		return fmt.Errorf("defaultAction %q: use allow or deny", p.DefaultAction)
	}
	for i, r := range p.Rules {
		where := fmt.Sprintf("rule %d", i)
		if r.Description != "" {
			where += fmt.Sprintf(" (%s)", r.Description)
		}
		if r.Action != "allow" && r.Action != "deny" {
			return fmt.Errorf("%s: action %q: use allow or deny", where, r.Action)
		}
		if r.Registry == "" || r.Repository == "" {
			return fmt.Errorf("%s: registry and repository are required (\"*\" and \"**\" match all)", where)
		}
		if strings.Contains(strings.TrimPrefix(r.Registry, "*."), "*") && r.Registry != "*" {
			return fmt.Errorf("%s: registry %q: use a host, one leading *. or *", where, r.Registry)
		}
		if len(r.Operations) == 0 {
			return fmt.Errorf("%s: operations is empty", where)
		}
		for _, op := range r.Operations {
			if op != "*" && !contains(operations, op) {
				return fmt.Errorf("%s: operation %q: use %s or *", where, op, strings.Join(operations, ", "))
			}
		}
	}
	return nil
}

// Decide reports whether op on registry/repository is allowed, and the
// rule that decided (nil: the default action).
func (p *Policy) Decide(registry, repository, op string) (bool, *Rule) {
	for i := range p.Rules {
		r := &p.Rules[i]
		if matchRegistry(r.Registry, registry) && matchGlob(r.Repository, repository) && (contains(r.Operations, op) || contains(r.Operations, "*")) {
			return r.Action == "allow", r
		}
	}
	return p.DefaultAction == "allow", nil
}

// WildcardRegistry says whether a rule reaches any host: through it the
// gateway reaches what it can reach, which clients may not.
func (p *Policy) WildcardRegistry() bool {
	for _, r := range p.Rules {
		if r.Action == "allow" && r.Registry == "*" {
			return true
		}
	}
	return p.DefaultAction == "allow"
}

func matchRegistry(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		suffix := pattern[1:] // ".example.com"
		return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
	}
	return pattern == host
}

// matchGlob matches a repository path: * within one segment, ** across
// segments (also none, so "a/**" matches "a"), ? one non-/ character.
func matchGlob(pattern, path string) bool {
	if pattern == "" {
		return path == ""
	}
	if strings.HasPrefix(pattern, "**") {
		rest := strings.TrimPrefix(strings.TrimPrefix(pattern, "**"), "/")
		for i := 0; i <= len(path); i++ {
			if (i == 0 || i == len(path) || path[i-1] == '/') && matchGlob(rest, path[i:]) {
				return true
			}
		}
		// "a/**" also matches "a": the ** and its slash match nothing.
		return false
	}
	if strings.HasPrefix(pattern, "/**") && path == "" {
		return true
	}
	if path == "" {
		return strings.Trim(pattern, "/*") == "" && strings.HasPrefix(pattern, "/**")
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(path); i++ {
			if i > 0 && path[i-1] == '/' {
				break
			}
			if matchGlob(pattern[1:], path[i:]) {
				return true
			}
		}
		return false
	case '?':
		return path[0] != '/' && matchGlob(pattern[1:], path[1:])
	}
	return pattern[0] == path[0] && matchGlob(pattern[1:], path[1:])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
