// Package structure runs container-structure-test's config files against an
// image without a container runtime: metadata tests read the image config,
// file tests read the layers' tar streams from the top layer down and stop
// as soon as every path they ask about is settled.
package structure

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Config is one container-structure-test config file (YAML or JSON).
type Config struct {
	SchemaVersion      string              `yaml:"schemaVersion"`
	MetadataTest       *MetadataTest       `yaml:"metadataTest"`
	FileExistenceTests []FileExistenceTest `yaml:"fileExistenceTests"`
	FileContentTests   []FileContentTest   `yaml:"fileContentTests"`
	CommandTests       []namedTest         `yaml:"commandTests"`
	LicenseTests       []namedTest         `yaml:"licenseTests"`
	// GlobalEnvVars apply to command tests only, which cannot run here.
	GlobalEnvVars []KeyValue `yaml:"globalEnvVars"`
}

// namedTest is a test that cannot run here; only its name is read.
type namedTest struct {
	Name string         `yaml:"name"`
	Rest map[string]any `yaml:",inline"`
}

// KeyValue is an env or label expectation.
type KeyValue struct {
	Key     string `yaml:"key"`
	Value   string `yaml:"value"`
	IsRegex bool   `yaml:"isRegex"`
}

// MetadataTest checks the image config. Unset fields are not checked.
type MetadataTest struct {
	EnvVars        []KeyValue `yaml:"envVars"`
	Env            []KeyValue `yaml:"env"` // older spelling of envVars
	Labels         []KeyValue `yaml:"labels"`
	Entrypoint     *[]string  `yaml:"entrypoint"`
	Cmd            *[]string  `yaml:"cmd"`
	ExposedPorts   []string   `yaml:"exposedPorts"`
	UnexposedPorts []string   `yaml:"unexposedPorts"`
	Volumes        []string   `yaml:"volumes"`
	Workdir        *string    `yaml:"workdir"`
	User           *string    `yaml:"user"`
}

// FileExistenceTest checks that a path exists (or not) with the given
// permissions, owner and executability.
type FileExistenceTest struct {
	Name           string `yaml:"name"`
	Path           string `yaml:"path"`
	ShouldExist    *bool  `yaml:"shouldExist"` // default true
	Permissions    string `yaml:"permissions"` // e.g. -rwxr-xr-x
	UID            *int64 `yaml:"uid"`
	GID            *int64 `yaml:"gid"`
	IsExecutableBy string `yaml:"isExecutableBy"` // owner, group, other or any
}

// FileContentTest checks a file's content against regular expressions.
type FileContentTest struct {
	Name             string   `yaml:"name"`
	Path             string   `yaml:"path"`
	ExpectedContents []string `yaml:"expectedContents"`
	ExcludedContents []string `yaml:"excludedContents"`
}

// ReadConfig reads a config file; unknown keys are errors, so a misspelt
// test is not silently skipped.
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}
