// Package reference owns the grammar of image names: repository paths, tags
// and registry hosts, as the distribution spec and Docker write them. The
// registry client, the CAS-backed registry server and the daemon loaders
// all check names here, so they agree on what a name is.
package reference

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	// pathRE is a repository path of the distribution spec. Not ggcr's
	// name.NewRepository: it rejects one-letter names the spec allows, and
	// guesses the registry from the first path element.
	pathRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	// tagRE is a tag of the distribution spec.
	tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// domainRE is a registry host with an optional port, as Docker reads it.
	domainRE = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	// hexIDRE is what Docker reads as an image ID rather than a name.
	hexIDRE = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// MaxRepositoryLen is the longest repository name CNCF Distribution and
// Docker Hub take; it also keeps every path component under the file
// system's 255-byte name limit.
const MaxRepositoryLen = 255

// CheckRepository rejects a repository path the distribution spec does not
// allow.
func CheckRepository(repository string) error {
	if len(repository) > MaxRepositoryLen {
		return fmt.Errorf("repository %.40q... is %d characters long; registries take at most %d", repository, len(repository), MaxRepositoryLen)
	}
	if !pathRE.MatchString(repository) {
		return fmt.Errorf("repository %q is not a valid name (lowercase letters, digits, separators, slashes)", repository)
	}
	return nil
}

// CheckTag rejects a tag the distribution spec does not allow.
func CheckTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q is not valid (up to 128 letters, digits, '_', '.', '-'; not starting with '.' or '-')", tag)
	}
	return nil
}

// NormalizeTag turns a tag such as "hello:v1" into the full name Docker and
// containerd store ("docker.io/library/hello:v1"), as `docker tag` and
// containerd's CRI write it. A missing tag means "latest"; digests are
// refused because a load creates tags.
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
	if len(full) > MaxRepositoryLen {
		return "", fmt.Errorf("tag %q: repository name longer than 255 characters", ref)
	}
	return full + ":" + tag, nil
}

// NormalizeTags normalises and de-duplicates tags, keeping their order.
func NormalizeTags(tags []string) ([]string, error) {
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
