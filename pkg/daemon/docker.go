package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/text"
	"github.com/rules-img/rules_img/pkg/tarball"
)

// dockerInfo is the part of `docker info` a load needs.
type dockerInfo struct {
	ServerVersion string
	// ServerErrors says why, when something answered but not as Docker.
	ServerErrors []string
	Driver       string
	DriverStatus [][]string
	// Containerd is reported since Docker 27 (API 1.46).
	Containerd *struct {
		Address    string
		Namespaces struct{ Containers string }
	}
}

// containerdStore reports whether Docker keeps images in containerd (the
// default since Docker 29, opt-in before), where a load can skip blobs.
func (i *dockerInfo) containerdStore() bool {
	for _, kv := range i.DriverStatus {
		if len(kv) == 2 && kv[0] == "driver-type" && kv[1] == "io.containerd.snapshotter.v1" {
			return true
		}
	}
	return false
}

// dockerCLI runs the docker client against one daemon.
type dockerCLI struct{ host string }

func (d dockerCLI) command(ctx context.Context, args ...string) *exec.Cmd {
	if d.host != "" {
		args = append([]string{"-H", d.host}, args...)
	}
	return exec.CommandContext(ctx, "docker", args...)
}

func (d dockerCLI) info(ctx context.Context) (*dockerInfo, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, errors.New("the docker client is not on PATH: install Docker or choose another daemon")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := d.command(ctx, "info", "--format", "{{json .}}")
	cmd.Stdout, cmd.Stderr = &out, &errb
	where := d.host
	if where == "" {
		where = os.Getenv("DOCKER_HOST")
	}
	if where == "" {
		where = "the default socket"
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("docker info: no answer from a Docker daemon at %s within 10s: start Docker or set DOCKER_HOST", where)
		}
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		fix := "start Docker or set DOCKER_HOST"
		if strings.Contains(msg, "permission denied") {
			fix = "run as a user in the docker group or set DOCKER_HOST"
		}
		return nil, fmt.Errorf("docker info: %s: %s", text.FirstLine(msg, 300), fix)
	}
	var info dockerInfo
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return nil, fmt.Errorf("docker info: unreadable output: %v", err)
	}
	if info.ServerVersion == "" {
		why := ""
		if len(info.ServerErrors) > 0 {
			why = " (" + text.FirstLine(info.ServerErrors[0], 200) + ")"
		}
		return nil, fmt.Errorf("docker info: no Docker server answered at %s%s: start Docker or set DOCKER_HOST", where, why)
	}
	return &info, nil
}

// remote reports whether the daemon is addressed over the network, where a
// local containerd socket cannot be its own.
func (d dockerCLI) remote() bool {
	h := d.host
	if h == "" {
		h = os.Getenv("DOCKER_HOST")
	}
	return h != "" && !strings.HasPrefix(h, "unix://") && !strings.HasPrefix(h, "/")
}

// load streams a docker-save archive of m into `docker load`; nothing is
// written to disk on the way.
func (d dockerCLI) load(ctx context.Context, m image.Manifest, names []string, count io.Writer) ([]string, error) {
	return pipeLoad(ctx, d.command(ctx, "load"), "docker load", m, names, count)
}

// imageExists asks Docker whether it can see name.
func (d dockerCLI) imageExists(ctx context.Context, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return d.command(ctx, "image", "inspect", "--format", "{{.Id}}", name).Run() == nil
}

// pipeLoad runs cmd with the archive of m on its stdin (copied to count as
// well) and returns what it said it loaded.
func pipeLoad(ctx context.Context, cmd *exec.Cmd, what string, m image.Manifest, names []string, count io.Writer) ([]string, error) {
	pr, pw := io.Pipe()
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, &out, &errb
	writeErr := make(chan error, 1)
	go func() {
		err := tarball.Write(ctx, io.MultiWriter(pw, count), m, names)
		pw.CloseWithError(err)
		writeErr <- err
	}()
	runErr := cmd.Run()
	// Unblock the writer if the command quit without reading everything.
	pr.CloseWithError(io.ErrClosedPipe)
	werr := <-writeErr
	if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return nil, fmt.Errorf("writing the image for %s: %w", what, werr)
	}
	if runErr != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		if msg == "" {
			msg = runErr.Error()
		}
		return nil, fmt.Errorf("%s: %s", what, msg)
	}
	if werr != nil {
		return nil, fmt.Errorf("%s stopped reading the image", what)
	}
	return loadedNames(out.String()), nil
}

// loadedNames reads "Loaded image: NAME" (Docker, podman) and "Loaded
// image(s): A,B" (podman) lines.
func loadedNames(out string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var rest string
		var ok bool
		if rest, ok = strings.CutPrefix(line, "Loaded image(s):"); !ok {
			if rest, ok = strings.CutPrefix(line, "Loaded image:"); !ok {
				rest, ok = strings.CutPrefix(line, "Loaded image ID:")
			}
		}
		if !ok {
			continue
		}
		for _, n := range strings.Split(rest, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}
