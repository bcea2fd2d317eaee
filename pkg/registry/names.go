package registry

import (
	"fmt"
	"regexp"
)

var (
	// repositoryRE is the repository name grammar of the distribution spec.
	// Not name.NewRepository: it rejects one-letter names the spec allows,
	// and guesses the registry from the first path element.
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	// tagRE is the tag grammar of the distribution spec.
	tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
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
	if !repositoryRE.MatchString(repository) {
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
