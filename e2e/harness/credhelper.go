package harness

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteCredentialHelper writes an executable docker-credential-NAME into dir:
// a Docker credential helper (the protocol of docker-credential-helpers) that
// knows one registry. `get` reads the server URL from stdin and, when its host
// is registryHost (with or without scheme and path), prints
// {"ServerURL","Username","Secret"}; for any other host it prints
// "credentials not found in native keychain" and exits 1, as real helpers do.
// `list` prints the one entry; store and erase are accepted and ignored.
// It returns dir as an absolute path, to put first on PATH.
func WriteCredentialHelper(dir, name, registryHost, user, password string) (pathDir string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	get, err := json.Marshal(map[string]string{"ServerURL": registryHost, "Username": user, "Secret": password})
	if err != nil {
		return "", err
	}
	list, err := json.Marshal(map[string]string{registryHost: user})
	if err != nil {
		return "", err
	}
	script := fmt.Sprintf(`#!/bin/sh
# Docker credential helper written by rules_img's e2e harness.
host=%s
case "$1" in
get)
	read -r url || true
	url=${url#*://}
	url=${url%%%%/*}
	if [ "$url" = "$host" ]; then
		printf '%%s\n' %s
		exit 0
	fi
	echo "credentials not found in native keychain"
	exit 1
	;;
list)
	printf '%%s\n' %s
	;;
store|erase)
	cat >/dev/null
	;;
*)
	echo "unknown command: $1" >&2
	exit 1
	;;
esac
`, shellQuote(registryHost), shellQuote(string(get)), shellQuote(string(list)))
	path := filepath.Join(dir, "docker-credential-"+name)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	return dir, os.Chmod(path, 0o755)
}

// WriteDockerConfig writes a Docker config.json at path whose auths entry
// holds user:password (base64) for registryHost.
func WriteDockerConfig(path, registryHost, user, password string) error {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	cfg := map[string]any{"auths": map[string]any{registryHost: map[string]string{"auth": auth}}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
