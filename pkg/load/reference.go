package load

import (
	"fmt"
	"regexp"
	"strings"
)

// Docker's reference grammar, written out here so that names come out the
// way `docker tag` and containerd's CRI would write them.
var (
	domainRE = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	pathRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	hexIDRE  = regexp.MustCompile(`^[a-f0-9]{64}$`)
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// NormalizeTag turns a tag such as "hello:v1" into the full name Docker and
// containerd store ("docker.io/library/hello:v1"). A missing tag means
// "latest"; digests are refused because a load creates tags.
func NormalizeTag(ref string) (string, error) {
	if strings.Contains(ref, "@") {
		return "", fmt.Errorf("tag %q: a loaded image is named by tag, not digest", ref)
	}
	name, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	if !tagRE.MatchString(tag) {
		return "", fmt.Errorf("tag %q: %q is not a valid tag (letters, digits, '_', '.', '-'; at most 128)", ref, tag)
	}
	if hexIDRE.MatchString(name) {
		return "", fmt.Errorf("tag %q: a 64-digit hex name would be read as an image ID", ref)
	}
	domain, path := "docker.io", name
	// The first component is a registry only when it looks like a host, as
	// in Docker: otherwise "team/app" would be read as host "team".
	if i := strings.Index(name, "/"); i >= 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, path = first, name[i+1:]
		}
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if !domainRE.MatchString(domain) {
		return "", fmt.Errorf("tag %q: %q is not a valid registry host", ref, domain)
	}
	if strings.ToLower(path) != path {
		return "", fmt.Errorf("tag %q: repository name must be lowercase", ref)
	}
	if !pathRE.MatchString(path) {
		return "", fmt.Errorf("tag %q: %q is not a valid repository name", ref, path)
	}
	if domain == "docker.io" && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	full := domain + "/" + path
	if len(full) > 255 {
		return "", fmt.Errorf("tag %q: repository name longer than 255 characters", ref)
	}
	return full + ":" + tag, nil
}

// normalizeTags normalises and de-duplicates tags, keeping their order.
func normalizeTags(tags []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, t := range tags {
		n, err := NormalizeTag(t)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}
