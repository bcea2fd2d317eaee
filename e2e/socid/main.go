// Command socid is soci-snapshotter (github.com/awslabs/soci-snapshotter's
// service package) for the e2e harness, and the pieces of soci's own CLI the
// tests need. Debian packages soci-snapshotter 0.4.1, which predates SOCI
// index manifest v2; the module the Go proxy serves is current.
//
//	socid serve --root DIR --address SOCKET --containerd-address SOCKET
//	    the snapshotter on a unix socket, for a containerd proxy plugin
//	    "soci"; background fetching off, so the bytes fetched are the bytes
//	    a container reads.
//	socid pull --containerd SOCKET --namespace NS REF
//	    what `soci image rpull` does: a containerd pull that unpacks with the
//	    soci snapshotter, which finds the SOCI index by the manifest's
//	    annotation (v2).
//	socid ztoc-build --blob LAYER --span N --output ZTOC
//	    soci's own ztoc of a layer (`soci create` for one layer), for the
//	    benchmark to compare with img's.
//	socid ztoc-check --blob LAYER --ztoc ZTOC --span N
//	    reads a ztoc with soci's reader, extracts every regular file through
//	    its checkpoints with soci's zlib code and compares them with the tar;
//	    then builds soci's own ztoc of the layer and compares the two.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"

	"github.com/awslabs/soci-snapshotter/config"
	socifs "github.com/awslabs/soci-snapshotter/fs"
	"github.com/awslabs/soci-snapshotter/fs/source"
	"github.com/awslabs/soci-snapshotter/metadata"
	"github.com/awslabs/soci-snapshotter/service"
	"github.com/awslabs/soci-snapshotter/ztoc"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	ctdsnapshotters "github.com/containerd/containerd/v2/pkg/snapshotters"
	"github.com/containerd/log"
	"google.golang.org/grpc"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: socid serve|pull|ztoc-check ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "pull":
		err = pull(os.Args[2:])
	case "ztoc-check":
		err = ztocCheck(os.Args[2:])
	case "ztoc-build":
		err = ztocBuild(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "socid:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	root := fs.String("root", "", "directory for the snapshotter's state and cache (required)")
	address := fs.String("address", "", "unix socket to serve the snapshots API on (required)")
	logLevel := fs.String("log-level", "info", "log level")
	containerdAddress := fs.String("containerd-address", "", "socket of the containerd that uses the snapshotter (for image manifests)")
	fs.Parse(args)
	if *root == "" || *address == "" {
		return errors.New("usage: socid serve --root DIR --address SOCKET")
	}
	if err := log.SetLevel(*logLevel); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	cfg := config.NewConfig()
	if cfg == nil {
		return errors.New("soci's default config")
	}
	cfg.FSConfig.BackgroundFetchConfig.Disable = true
	// Its own content store under root; image manifests come from the
	// containerd that uses it, not one at the default socket.
	cfg.FSConfig.ContentStoreConfig.Type = config.SociContentStoreType
	cfg.FSConfig.ContentStoreConfig.ContainerdAddress = *containerdAddress
	// soci's command opens the metadata store; the service needs one given.
	meta := metadata.NewMultiReader(filepath.Join(*root, "metadata"), metadata.DBMultiOptions{})
	sn, err := service.NewSociSnapshotterService(ctx, *root, &cfg.ServiceConfig,
		service.WithFilesystemOptions(socifs.WithMetadataStore(meta)))
	if err != nil {
		return fmt.Errorf("starting the snapshotter in %s: %w", *root, err)
	}
	defer sn.Close()
	if err := os.MkdirAll(filepath.Dir(*address), 0o700); err != nil {
		return err
	}
	os.Remove(*address)
	l, err := net.Listen("unix", *address)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(namespaceFromKey))
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(sn))
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	log.G(ctx).Infof("serving the soci snapshotter on %s", *address)
	return srv.Serve(l)
}

// namespaceFromKey gives Prepare and View the namespace soci-snapshotter
// records on a remote snapshot. containerd 1.6 (Debian's) sends none to a
// proxy snapshotter, but its metadata store prefixes every key with it:
// "NAMESPACE/ID/NAME".
func namespaceFromKey(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if _, ok := namespaces.Namespace(ctx); !ok {
		var key string
		switch r := req.(type) {
		case *snapshotsapi.PrepareSnapshotRequest:
			key = r.Key
		case *snapshotsapi.ViewSnapshotRequest:
			key = r.Key
		}
		if ns, _, ok := strings.Cut(key, "/"); ok && ns != "" {
			ctx = namespaces.WithNamespace(ctx, ns)
		}
	}
	return handler(ctx, req)
}

func pull(args []string) error {
	fs := flag.NewFlagSet("pull", flag.ExitOnError)
	address := fs.String("containerd", "", "containerd's socket")
	ns := fs.String("namespace", "default", "containerd namespace")
	fs.Parse(args)
	if *address == "" || fs.NArg() != 1 {
		return errors.New("usage: socid pull --containerd SOCKET [--namespace NS] REF")
	}
	ref := fs.Arg(0)
	client, err := containerd.New(*address)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), *ns)
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	img, err := client.Pull(ctx, ref,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter("soci"),
		// No index digest: the snapshotter reads it from the manifest.
		containerd.WithImageHandlerWrapper(source.AppendDefaultLabelsHandlerWrapper("", ctdsnapshotters.AppendInfoHandlerWrapper(ref))),
	)
	if err != nil {
		return err
	}
	fmt.Println(img.Target().Digest)
	return nil
}

func ztocBuild(args []string) error {
	fs := flag.NewFlagSet("ztoc-build", flag.ExitOnError)
	blob := fs.String("blob", "", "the gzip layer")
	span := fs.Int64("span", 4<<20, "uncompressed bytes between checkpoints")
	output := fs.String("output", "", "write the ztoc here")
	fs.Parse(args)
	z, err := ztoc.NewBuilder("soci").BuildZtoc(*blob, *span)
	if err != nil {
		return err
	}
	r, _, err := ztoc.Marshal(z)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return os.WriteFile(*output, b, 0o644)
}

type checkResult struct {
	Files       int  `json:"files"`
	Checkpoints int  `json:"checkpoints"`
	SameTOC     bool `json:"same_toc"`
	SameZinfo   bool `json:"same_zinfo"`
	SameSpans   bool `json:"same_span_digests"`
	SameSizes   bool `json:"same_sizes"`
}

func ztocCheck(args []string) error {
	fs := flag.NewFlagSet("ztoc-check", flag.ExitOnError)
	blob := fs.String("blob", "", "the gzip layer")
	ztocPath := fs.String("ztoc", "", "the ztoc to check")
	span := fs.Int64("span", 4<<20, "the span to build soci's own ztoc with")
	extract := fs.Bool("extract", true, "extract every regular file through the ztoc (for layers of few files)")
	fs.Parse(args)
	f, err := os.Open(*blob)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	zf, err := os.Open(*ztocPath)
	if err != nil {
		return err
	}
	ours, err := ztoc.Unmarshal(zf)
	zf.Close()
	if err != nil {
		return fmt.Errorf("soci cannot read the ztoc: %w", err)
	}
	// Every regular file, extracted through the ztoc, against the tar.
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	var res checkResult
	for *extract {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		want, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		got, err := ours.ExtractFile(io.NewSectionReader(f, 0, st.Size()), hdr.Name)
		if err != nil {
			return fmt.Errorf("extracting %s through the ztoc: %w", hdr.Name, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s extracted through the ztoc differs from the tar's", hdr.Name)
		}
		res.Files++
	}
	built, err := ztoc.NewBuilder("soci").BuildZtoc(*blob, *span)
	if err != nil {
		return fmt.Errorf("soci's own ztoc: %w", err)
	}
	// Through soci's marshaler and back, as ours came, so times compare.
	r, _, err := ztoc.Marshal(built)
	if err != nil {
		return err
	}
	theirs, err := ztoc.Unmarshal(r)
	if err != nil {
		return err
	}
	res.Checkpoints = int(ours.MaxSpanID) + 1
	res.SameZinfo = bytes.Equal(ours.Checkpoints, theirs.Checkpoints)
	res.SameSpans = reflect.DeepEqual(ours.SpanDigests, theirs.SpanDigests) && ours.MaxSpanID == theirs.MaxSpanID
	res.SameSizes = ours.CompressedArchiveSize == theirs.CompressedArchiveSize && ours.UncompressedArchiveSize == theirs.UncompressedArchiveSize
	res.SameTOC = len(ours.FileMetadata) == len(theirs.FileMetadata)
	for i := range ours.FileMetadata {
		if res.SameTOC && !ours.FileMetadata[i].Equal(theirs.FileMetadata[i]) {
			res.SameTOC = false
			fmt.Fprintf(os.Stderr, "TOC entry %d differs:\n ours   %+v\n theirs %+v\n", i, ours.FileMetadata[i], theirs.FileMetadata[i])
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
