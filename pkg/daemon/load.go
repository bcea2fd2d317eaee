// Package daemon puts a built image into a local container daemon: straight
// into containerd's content store over its gRPC API (skipping blobs it has),
// or as a docker-save archive streamed into `docker load` or `podman load`.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/text"
	"github.com/rules-img/rules_img/pkg/reference"
)

// Options says where and under which names to load.
type Options struct {
	Daemon              string   // "auto" (or "") | "docker" | "containerd" | "podman"
	Tags                []string // names to create, normalised docker-style
	Platform            string   // "os/arch[/variant]" of the manifest to load; "" is the host's
	ContainerdAddress   string   // "" → $CONTAINERD_ADDRESS, then the usual sockets
	ContainerdNamespace string   // "" → $CONTAINERD_NAMESPACE, Docker's if it uses that containerd, else "default"
	DockerHost          string   // passed as `docker -H`; "" leaves it to the docker client
	Progress            io.Writer
	IsTerminal          bool
	Label               string // Bazel label for messages
}

// Result reports what a load did.
type Result struct {
	Daemon       string   // what was used, e.g. "containerd (unix:///run/containerd/containerd.sock, namespace default)"
	Names        []string // normalised names created
	Digest       string   // manifest digest loaded
	BlobsWritten int
	BlobsSkipped int
	BytesWritten int64
}

// Load loads the manifest of img for opts.Platform under opts.Tags. For an
// index only the chosen platform's manifest is loaded, as `docker pull`
// does, and the names point at that manifest.
func Load(ctx context.Context, img *image.Image, opts Options) (Result, error) {
	l := &loader{opts: opts, p: newProgress(opts.Progress, opts.IsTerminal)}
	ms, err := image.SelectManifests(img, opts.Platform)
	if err != nil {
		return Result{}, l.fail("", err)
	}
	names, err := reference.NormalizeTags(opts.Tags)
	if err != nil {
		return Result{}, l.fail("", err)
	}
	l.ms, l.m, l.res = ms, ms[0], Result{Names: names, Digest: ms[0].Digest}
	if len(ms) > 1 {
		if l.index, err = indexFor(img, ms); err != nil {
			return Result{}, l.fail("", err)
		}
		l.res.Digest = l.index.digest
	}
	switch opts.Daemon {
	case "", "auto":
		err = l.auto(ctx)
	case "containerd":
		var c *containerdConn
		if c, err = connectContainerd(ctx, opts.ContainerdAddress); err != nil {
			return Result{}, l.fail("containerd", err)
		}
		err = l.containerd(ctx, c)
	case "docker":
		var info *dockerInfo
		if info, err = (dockerCLI{host: opts.DockerHost}).info(ctx); err != nil {
			return Result{}, l.fail("docker", err)
		}
		err = l.docker(ctx, info)
	case "podman":
		var v string
		if v, err = newPodmanCLI().version(ctx); err != nil {
			return Result{}, l.fail("podman", err)
		}
		err = l.podman(ctx, v)
	default:
		err = fmt.Errorf("unknown daemon %q: use auto, docker, containerd or podman", opts.Daemon)
	}
	if err != nil {
		return Result{}, err
	}
	return l.res, nil
}

type loader struct {
	opts  Options
	p     *progress
	ms    []image.Manifest // what to load; several only into containerd
	m     image.Manifest   // ms[0]
	index *rootIndex       // set when ms holds several
	res   Result
}

// onePlatform refuses a load of several platforms into a daemon that keeps
// one image per name.
func (l *loader) onePlatform(daemon string) error {
	if len(l.ms) == 1 {
		return nil
	}
	return l.fail(daemon, fmt.Errorf("%s loads one platform at a time, and %d were asked for: pass --platform os/arch, or load into containerd (--daemon containerd), which keeps several", daemon, len(l.ms)))
}

// fail names the label and the daemon in err.
func (l *loader) fail(daemon string, err error) error {
	var b strings.Builder
	if l.opts.Label != "" {
		b.WriteString(l.opts.Label + ": ")
	}
	b.WriteString("load")
	if daemon != "" {
		b.WriteString(" into " + daemon)
	}
	return fmt.Errorf("%s: %w", b.String(), err)
}

// auto picks the first daemon that answers. Docker goes first unless a
// containerd address was given: a classic Docker shares the system
// containerd socket, and an image put there would be invisible to it.
func (l *loader) auto(ctx context.Context) error {
	type attempt struct {
		name string
		try  func() (bool, error) // false: daemon absent, with the reason
	}
	var why error
	ctrd := attempt{"containerd", func() (bool, error) {
		c, err := connectContainerd(ctx, l.opts.ContainerdAddress)
		if err != nil {
			why = err
			return false, nil
		}
		return true, l.containerd(ctx, c)
	}}
	dock := attempt{"docker", func() (bool, error) {
		info, err := (dockerCLI{host: l.opts.DockerHost}).info(ctx)
		if err != nil {
			why = err
			return false, nil
		}
		return true, l.docker(ctx, info)
	}}
	pod := attempt{"podman", func() (bool, error) {
		v, err := newPodmanCLI().version(ctx)
		if err != nil {
			why = err
			return false, nil
		}
		return true, l.podman(ctx, v)
	}}
	order := []attempt{dock, ctrd, pod}
	if l.opts.ContainerdAddress != "" || os.Getenv("CONTAINERD_ADDRESS") != "" {
		order = []attempt{ctrd, dock, pod}
	}
	var reasons []string
	for _, a := range order {
		ok, err := a.try()
		if ok {
			return err
		}
		reasons = append(reasons, fmt.Sprintf("%s: %v", a.name, why))
	}
	return l.fail("a local daemon", errors.New("none answered:\n  "+strings.Join(reasons, "\n  ")+
		"\nstart one of them, or pick one with --daemon and its address"))
}

// containerd loads over c (which it closes) into the namespace the options,
// the environment or a Docker on the same containerd call for.
func (l *loader) containerd(ctx context.Context, c *containerdConn) error {
	defer c.Close()
	ns := l.opts.ContainerdNamespace
	if ns == "" {
		ns = os.Getenv("CONTAINERD_NAMESPACE")
	}
	if ns == "" {
		ns = "default"
		if dockerNS := l.dockerNamespaceOn(ctx, c.path); dockerNS != "" {
			ns = dockerNS
		}
	}
	l.res.Daemon = fmt.Sprintf("containerd (unix://%s, namespace %s)", c.path, ns)
	return l.intoContainerd(ctx, c, ns, "containerd")
}

// dockerNamespaceOn returns Docker's namespace when Docker keeps its images
// in the containerd at path, so that `docker images` shows the load.
func (l *loader) dockerNamespaceOn(ctx context.Context, path string) string {
	if _, err := exec.LookPath("docker"); err != nil {
		return ""
	}
	d := dockerCLI{host: l.opts.DockerHost}
	info, err := d.info(ctx)
	if err != nil || !info.containerdStore() || d.remote() {
		return ""
	}
	if info.Containerd != nil && info.Containerd.Address != "" && socketPath(info.Containerd.Address) != path {
		return ""
	}
	return dockerNamespace(info)
}

func dockerNamespace(info *dockerInfo) string {
	if info.Containerd != nil && info.Containerd.Namespaces.Containers != "" {
		return info.Containerd.Namespaces.Containers
	}
	return "moby"
}

func (l *loader) intoContainerd(ctx context.Context, c *containerdConn, ns, daemon string) error {
	if len(l.res.Names) == 0 {
		return l.fail(daemon, errors.New("no tag given: containerd keeps only named images, so pass at least one tag"))
	}
	l.p.linef("Loading %s into %s", l.res.Names[0], l.res.Daemon)
	if err := loadIntoContainerd(ctx, c, ns, l.ms, l.index, l.res.Names, l.p, &l.res); err != nil {
		return l.fail(fmt.Sprintf("%s (unix://%s, namespace %s)", daemon, c.path, ns), err)
	}
	if l.res.BlobsSkipped > 0 {
		l.p.linef("  %d of %d blobs already present", l.res.BlobsSkipped, l.res.BlobsSkipped+l.res.BlobsWritten)
	}
	l.done()
	return nil
}

// docker loads into the Docker daemon info describes: through its containerd
// when it keeps images there and the socket is reachable, else `docker load`.
func (l *loader) docker(ctx context.Context, info *dockerInfo) error {
	d := dockerCLI{host: l.opts.DockerHost}
	if info.containerdStore() && !d.remote() && len(l.res.Names) > 0 {
		addr := l.opts.ContainerdAddress
		if addr == "" && info.Containerd != nil {
			addr = info.Containerd.Address
		}
		c, err := connectContainerd(ctx, addr)
		if err != nil {
			l.p.linef("warning: Docker keeps images in containerd, but %v; using `docker load`, which sends every layer again", err)
		} else {
			ns := dockerNamespace(info)
			l.res.Daemon = fmt.Sprintf("docker %s (containerd image store: unix://%s, namespace %s)", info.ServerVersion, c.path, ns)
			err := l.intoContainerd(ctx, c, ns, "docker")
			c.Close()
			if err != nil {
				return err
			}
			if d.imageExists(ctx, l.res.Names[0]) {
				return nil
			}
			// Docker uses another containerd than the one reached (a
			// remote context, say): fall back to sending it the image.
			l.p.linef("warning: Docker does not see %s after loading into unix://%s; using `docker load`", l.res.Names[0], c.path)
			l.res.BlobsWritten, l.res.BlobsSkipped, l.res.BytesWritten = 0, 0, 0
		}
	}
	if err := l.onePlatform("docker load"); err != nil {
		return err
	}
	l.res.Daemon = fmt.Sprintf("docker %s (docker load)", info.ServerVersion)
	l.p.linef("Loading %s into %s", l.what(), l.res.Daemon)
	n, err := countArchive(func(cw io.Writer) error {
		_, err := d.load(ctx, l.m, l.res.Names, cw)
		return err
	})
	if err != nil {
		return l.fail("docker", err)
	}
	l.archiveDone(n)
	return nil
}

func (l *loader) podman(ctx context.Context, version string) error {
	if err := l.onePlatform("podman"); err != nil {
		return err
	}
	pc := newPodmanCLI()
	l.res.Daemon = fmt.Sprintf("podman %s (podman load)", version)
	l.p.linef("Loading %s into %s", l.what(), l.res.Daemon)
	n, err := countArchive(func(cw io.Writer) error { return pc.load(ctx, l.m, l.res.Names, cw) })
	if err != nil {
		return l.fail("podman", err)
	}
	l.archiveDone(n)
	return nil
}

func (l *loader) what() string {
	if len(l.res.Names) > 0 {
		return l.res.Names[0]
	}
	return l.m.Digest
}

// archiveDone counts an archive load: every blob goes over again.
func (l *loader) archiveDone(n int64) {
	layers := map[string]bool{}
	for _, layer := range l.m.Layers {
		layers[layer.Digest] = true
	}
	l.res.BlobsWritten = len(layers) + 1
	l.res.BytesWritten = n
	plural := "s"
	if len(layers) == 1 {
		plural = ""
	}
	l.p.linef("  sent a %s archive (%d layer%s and the config)", text.Size(n), len(layers), plural)
	l.done()
}

func (l *loader) done() {
	names := "untagged"
	if len(l.res.Names) > 0 {
		names = strings.Join(l.res.Names, ", ")
	}
	l.p.linef("Loaded %s (%s) into %s: %d blobs written (%s), %d already present",
		names, text.ShortDigest(l.res.Digest), l.res.Daemon, l.res.BlobsWritten, text.Size(l.res.BytesWritten), l.res.BlobsSkipped)
}

// countArchive gives f a writer that only counts, for the archive's size.
func countArchive(f func(io.Writer) error) (int64, error) {
	var c countingWriter
	err := f(&c)
	return int64(c), err
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
