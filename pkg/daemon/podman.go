package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/text"
)

// podmanCLI runs podman with the global flags from IMG_PODMAN_FLAGS (for
// example "--root R --runroot RR --storage-driver vfs"), so a test or an
// unusual setup can point it at its own storage.
type podmanCLI struct{ flags []string }

func newPodmanCLI() podmanCLI {
	return podmanCLI{flags: strings.Fields(os.Getenv("IMG_PODMAN_FLAGS"))}
}

func (p podmanCLI) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "podman", append(slices.Clone(p.flags), args...)...)
}

func (p podmanCLI) version(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return "", errors.New("podman is not on PATH: install podman or choose another daemon")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := p.command(ctx, "version", "--format", "{{.Client.Version}}")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("podman version: %s: check podman's setup (IMG_PODMAN_FLAGS holds extra global flags)", text.FirstLine(msg, 300))
	}
	return strings.TrimSpace(out.String()), nil
}

// load streams the archive into `podman load`, which tags from the
// archive's RepoTags; any name it did not report is added with `podman tag`.
func (p podmanCLI) load(ctx context.Context, m image.Manifest, names []string, count io.Writer) error {
	loaded, err := pipeLoad(ctx, p.command(ctx, "load"), "podman load", m, names, count)
	if err != nil {
		return err
	}
	// The config digest is podman's image ID, so it always finds the image.
	id := strings.TrimPrefix(m.ConfigDigest, "sha256:")
	for _, n := range names {
		if slices.Contains(loaded, n) {
			continue
		}
		var errb bytes.Buffer
		cmd := p.command(ctx, "tag", id, n)
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("podman tag %s %s: %s", id, n, strings.TrimSpace(errb.String()))
		}
	}
	return nil
}
