package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/text"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// defaultContainerdSockets are tried in order when no address is given: the
// system daemon, then the one dockerd starts for itself.
var defaultContainerdSockets = []string{"/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock"}

const (
	writeChunk   = 1 << 20 // containerd's own client writes 1 MiB at a time
	leaseExpiry  = time.Hour
	probeTimeout = 5 * time.Second
)

// socketPath accepts "/path" and "unix:///path".
func socketPath(addr string) string {
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		return p
	}
	return addr
}

// containerdAddresses lists the sockets to try and whether the user named
// one (then only it is tried).
func containerdAddresses(opt string) ([]string, bool) {
	if opt != "" {
		return []string{socketPath(opt)}, true
	}
	if env := os.Getenv("CONTAINERD_ADDRESS"); env != "" {
		return []string{socketPath(env)}, true
	}
	return defaultContainerdSockets, false
}

// containerdConn is a connection that answered a Version call.
type containerdConn struct {
	conn    *grpc.ClientConn
	path    string
	version string
}

func (c *containerdConn) Close() error { return c.conn.Close() }

// dialContainerd checks the socket with a plain dial first, because gRPC
// folds "no such file" and "permission denied" into one vague Unavailable.
func dialContainerd(ctx context.Context, path string) (*containerdConn, error) {
	fix := "set CONTAINERD_ADDRESS (or --containerd-address) to containerd's socket"
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no containerd socket at %s: start containerd or %s", path, fix)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("containerd socket %s: permission denied: run as a user in the containerd group (or root) or %s", path, fix)
		}
		return nil, fmt.Errorf("containerd socket %s: %v", path, err)
	}
	d := net.Dialer{Timeout: probeTimeout}
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		switch {
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("containerd socket %s: permission denied: run as a user in the containerd group (or root) or %s", path, fix)
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("containerd socket %s refuses connections: containerd is not running; start it or %s", path, fix)
		}
		return nil, fmt.Errorf("containerd socket %s: %v", path, err)
	}
	nc.Close()
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("containerd socket %s: %v", path, err)
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	v, err := versionapi.NewVersionClient(conn).Version(pctx, &emptypb.Empty{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("containerd socket %s does not answer as containerd: %v", path, status.Convert(err).Message())
	}
	return &containerdConn{conn: conn, path: path, version: v.Version}, nil
}

// connectContainerd tries the candidate sockets in order.
func connectContainerd(ctx context.Context, opt string) (*containerdConn, error) {
	paths, _ := containerdAddresses(opt)
	var errs []string
	for _, p := range paths {
		c, err := dialContainerd(ctx, p)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// blob is one thing to put into the content store.
type blob struct {
	kind   string // "layer", "config", "manifest": for messages
	digest string
	size   int64
	open   func(ctx context.Context) (io.ReadCloser, error)
}

func bytesBlob(kind, digest string, b []byte) blob {
	return blob{kind: kind, digest: digest, size: int64(len(b)),
		open: func(context.Context) (io.ReadCloser, error) {
			return image.Verify(io.NopCloser(bytes.NewReader(b)), digest, int64(len(b)), kind), nil
		}}
}

// containerdLoader writes one manifest and its blobs into a namespace.
type containerdLoader struct {
	content  contentapi.ContentClient
	images   imagesapi.ImagesClient
	leases   leasesapi.LeasesClient
	progress *progress
	res      *Result
}

// loadIntoContainerd stores ms (and index, when it holds several) under
// names (already normalised). Blobs go in children first so that a failure
// leaves no image pointing at missing content; a lease keeps them from GC
// until the image record holds them.
func loadIntoContainerd(ctx context.Context, c *containerdConn, ns string, ms []image.Manifest, index *rootIndex, names []string, p *progress, res *Result) error {
	l := &containerdLoader{
		progress: p, res: res,
		content: contentapi.NewContentClient(c.conn),
		images:  imagesapi.NewImagesClient(c.conn),
		leases:  leasesapi.NewLeasesClient(c.conn),
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "containerd-namespace", ns)

	leaseID, err := l.createLease(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// Also on failure or cancellation: the lease would otherwise pin
		// the written blobs until it expires.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		l.leases.Delete(dctx, &leasesapi.DeleteRequest{ID: leaseID})
	}()
	wctx := metadata.AppendToOutgoingContext(ctx, "containerd-lease", leaseID)

	seen := map[string]bool{}
	var children []string
	for _, m := range ms {
		// An image's artifacts (its SOCI index) first, as a push does, when
		// the built index that lists them is loaded; a lone manifest does
		// not name them, and GC would take them.
		for _, a := range m.Artifacts {
			if index == nil {
				break
			}
			if err := l.putManifest(wctx, leaseID, a, seen, nil); err != nil {
				return err
			}
			children = append(children, a.Digest)
		}
		if err := l.putManifest(wctx, leaseID, m, seen, snapshotRefs(m)); err != nil {
			return err
		}
		children = append(children, m.Digest)
	}
	target := &types.Descriptor{MediaType: string(ms[0].MediaType), Digest: ms[0].Digest, Size: int64(len(ms[0].Raw))}
	if index != nil {
		labels := map[string]string{}
		for i, d := range children {
			labels[fmt.Sprintf("containerd.io/gc.ref.content.m.%d", i)] = d
		}
		if err := l.put(wctx, leaseID, bytesBlob("index", index.digest, index.raw), labels); err != nil {
			return err
		}
		target = &types.Descriptor{MediaType: string(index.mediaType), Digest: index.digest, Size: int64(len(index.raw))}
	}
	for _, name := range names {
		if err := l.setImage(ctx, name, target); err != nil {
			return err
		}
	}
	return nil
}

// putManifest stores m's layers, config (with configLabels) and manifest;
// seen holds the layer digests already stored by this load.
func (l *containerdLoader) putManifest(wctx context.Context, leaseID string, m image.Manifest, seen map[string]bool, configLabels map[string]string) error {
	for _, layer := range m.Layers {
		if seen[layer.Digest] {
			continue
		}
		seen[layer.Digest] = true
		// layer.Open as it is: containerd hashes what it is sent and
		// refuses a commit whose digest differs, so a build output the
		// opener only measured is not hashed twice.
		b := blob{kind: "layer", digest: layer.Digest, size: layer.Size, open: layer.Open}
		if err := l.put(wctx, leaseID, b, nil); err != nil {
			return err
		}
	}
	if err := l.put(wctx, leaseID, bytesBlob("config", m.ConfigDigest, m.Config), configLabels); err != nil {
		return err
	}
	// GC follows these labels from the manifest to its children; without
	// them containerd would collect the layers once the lease is gone.
	labels := map[string]string{"containerd.io/gc.ref.content.config": m.ConfigDigest}
	for i, layer := range m.Layers {
		labels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = layer.Digest
	}
	return l.put(wctx, leaseID, bytesBlob("manifest", m.Digest, m.Raw), labels)
}

// snapshotRefs labels the config so that GC keeps the unpacked snapshots of
// every layer prefix the image shares with what is already there. Without
// them, replacing a tag's image orphans the old config, GC collects its
// whole snapshot chain (base layers included), and the next run unpacks
// everything again — or races the collection and fails. Snapshot keys are
// chain IDs, computable from the diff IDs alone.
func snapshotRefs(m image.Manifest) map[string]string {
	snapshotters := []string{"overlayfs", "native"}
	if s := os.Getenv("CONTAINERD_SNAPSHOTTER"); s != "" && !slices.Contains(snapshotters, s) {
		snapshotters = append(snapshotters, s)
	}
	labels := map[string]string{}
	chain := ""
	for i, layer := range m.Layers {
		if chain == "" {
			chain = layer.DiffID
		} else {
			sum := sha256.Sum256([]byte(chain + " " + layer.DiffID))
			chain = "sha256:" + hex.EncodeToString(sum[:])
		}
		for _, sn := range snapshotters {
			labels[fmt.Sprintf("containerd.io/gc.ref.snapshot.%s/rules_img.%d", sn, i)] = chain
		}
	}
	return labels
}

func (l *containerdLoader) createLease(ctx context.Context) (string, error) {
	var r [8]byte
	rand.Read(r[:])
	id := "rules-img-load-" + hex.EncodeToString(r[:])
	_, err := l.leases.Create(ctx, &leasesapi.CreateRequest{ID: id, Labels: map[string]string{
		"containerd.io/gc.expire": time.Now().Add(leaseExpiry).UTC().Format(time.RFC3339),
	}})
	if err != nil {
		return "", fmt.Errorf("creating a lease: %v", status.Convert(err).Message())
	}
	return id, nil
}

// put writes b unless the store has it. labels are set on the blob either
// way, since a blob written by another tool may lack them.
func (l *containerdLoader) put(ctx context.Context, leaseID string, b blob, labels map[string]string) error {
	for attempt := 0; ; attempt++ {
		info, err := l.content.Info(ctx, &contentapi.InfoRequest{Digest: b.digest})
		if err == nil {
			return l.skipped(ctx, leaseID, b, info.Info, labels)
		}
		if status.Code(err) != codes.NotFound {
			return fmt.Errorf("checking %s %s: %v", b.kind, b.digest, status.Convert(err).Message())
		}
		n, err := l.write(ctx, b, labels, attempt > 0)
		if status.Code(err) == codes.AlreadyExists {
			return l.skipped(ctx, leaseID, b, nil, labels)
		}
		// Another writer holds the ref (a parallel load of the same blob):
		// wait for it, then find the blob present or write it ourselves.
		if status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "locked") && attempt < 60 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		// A resumed write whose earlier bytes were not ours fails the
		// digest check at commit; start over once from offset 0.
		if code := status.Code(err); (code == codes.FailedPrecondition || code == codes.InvalidArgument) && attempt == 0 {
			continue
		}
		if err != nil {
			if s, ok := status.FromError(err); ok {
				if s.Code() == codes.FailedPrecondition && strings.Contains(s.Message(), "unexpected commit digest") {
					return fmt.Errorf("writing %s %s: containerd found that the bytes sent do not match their digest (%s): %s", b.kind, b.digest, s.Message(), image.ChangedOutput)
				}
				return fmt.Errorf("writing %s %s: %s", b.kind, b.digest, s.Message())
			}
			return err
		}
		l.res.BlobsWritten++
		l.res.BytesWritten += n
		l.progress.linef("  wrote %s %s (%s)", b.kind, text.ShortDigest(b.digest), text.Size(b.size))
		return nil
	}
}

func (l *containerdLoader) skipped(ctx context.Context, leaseID string, b blob, info *contentapi.Info, labels map[string]string) error {
	l.res.BlobsSkipped++
	// Pin the existing blob too: unreferenced content (from an interrupted
	// load) could otherwise be collected before the image record exists.
	l.leases.AddResource(ctx, &leasesapi.AddResourceRequest{ID: leaseID,
		Resource: &leasesapi.Resource{ID: b.digest, Type: "content"}})
	if len(labels) == 0 {
		return nil
	}
	if info == nil {
		r, err := l.content.Info(ctx, &contentapi.InfoRequest{Digest: b.digest})
		if err != nil {
			return fmt.Errorf("checking %s %s: %v", b.kind, b.digest, status.Convert(err).Message())
		}
		info = r.Info
	}
	var paths []string
	for k, v := range labels {
		if info.Labels[k] != v {
			paths = append(paths, "labels."+k)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	_, err := l.content.Update(ctx, &contentapi.UpdateRequest{
		Info:       &contentapi.Info{Digest: b.digest, Labels: labels},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	if err != nil {
		return fmt.Errorf("labelling %s %s: %v", b.kind, b.digest, status.Convert(err).Message())
	}
	return nil
}

// write streams b through the Write RPC: STAT tells how much of an earlier,
// interrupted write of the same ref containerd holds, so that is resumed
// (unless fresh); WRITE chunks follow, then COMMIT checks digest and size.
// It returns the bytes sent.
func (l *containerdLoader) write(ctx context.Context, b blob, labels map[string]string, fresh bool) (int64, error) {
	ref := "rules-img-" + b.digest
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream on every error path
	stream, err := l.content.Write(ctx)
	if err != nil {
		return 0, err
	}
	send := func(req *contentapi.WriteContentRequest) (*contentapi.WriteContentResponse, error) {
		req.Ref = ref
		if err := stream.Send(req); err != nil {
			// The server's reason arrives with the next Recv.
			if _, rerr := stream.Recv(); rerr != nil {
				return nil, rerr
			}
			return nil, err
		}
		return stream.Recv()
	}
	st, err := send(&contentapi.WriteContentRequest{Action: contentapi.WriteAction_STAT, Total: b.size, Expected: b.digest})
	if err != nil {
		return 0, err
	}
	offset := st.Offset
	if fresh || offset < 0 || offset > b.size {
		offset = 0 // a WRITE at offset 0 truncates what is there
	}
	r, err := b.open(ctx)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if offset > 0 {
		// Read past what containerd has; the opener still checks every byte.
		if _, err := io.CopyN(io.Discard, r, offset); err != nil {
			return 0, err
		}
		l.progress.linef("  resuming %s %s at %s", b.kind, text.ShortDigest(b.digest), text.Size(offset))
	}
	sent := int64(0)
	buf := make([]byte, writeChunk)
	started := time.Now()
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := send(&contentapi.WriteContentRequest{Action: contentapi.WriteAction_WRITE, Offset: offset, Data: buf[:n]}); err != nil {
				return sent, err
			}
			offset += int64(n)
			sent += int64(n)
			l.progress.partial(started, "  writing %s %s %d%%", b.kind, text.ShortDigest(b.digest), offset*100/max(b.size, 1))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			cancel()
			l.abort(ctx, ref)
			return sent, rerr
		}
	}
	// Verify reports a bad source at EOF; make sure it got there.
	if _, err := r.Read(buf[:1]); err != io.EOF {
		cancel() // release the ref so that Abort may remove it
		l.abort(ctx, ref)
		if err == nil {
			err = fmt.Errorf("%s %s has more than %d bytes", b.kind, b.digest, b.size)
		}
		return sent, err
	}
	l.progress.clearPartial()
	_, err = send(&contentapi.WriteContentRequest{Action: contentapi.WriteAction_COMMIT, Offset: offset,
		Total: b.size, Expected: b.digest, Labels: labels})
	if err != nil {
		// containerd 1.6 keeps a refused ingest (2.x drops it): remove it, so
		// no wrong bytes stay behind and a retry starts clean.
		cancel()
		l.abort(ctx, ref)
		return sent, err
	}
	stream.CloseSend()
	return sent, nil
}

// abort removes the ingest ref. The server releases its lock on the ref only
// once it notices that our stream ended, so a "locked" answer is retried.
func (l *containerdLoader) abort(ctx context.Context, ref string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for {
		_, err := l.content.Abort(actx, &contentapi.AbortRequest{Ref: ref})
		if err == nil || status.Code(err) == codes.NotFound || !strings.Contains(err.Error(), "locked") {
			return
		}
		select {
		case <-actx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// setImage points name at target, creating the record or moving it.
func (l *containerdLoader) setImage(ctx context.Context, name string, target *types.Descriptor) error {
	img := &imagesapi.Image{Name: name, Target: target}
	_, err := l.images.Create(ctx, &imagesapi.CreateImageRequest{Image: img})
	if status.Code(err) == codes.AlreadyExists {
		_, err = l.images.Update(ctx, &imagesapi.UpdateImageRequest{Image: img,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"target"}}})
	}
	if err != nil {
		return fmt.Errorf("creating image %s: %v", name, status.Convert(err).Message())
	}
	return nil
}
