// Command stargzd runs the stargz snapshotter (github.com/containerd/
// stargz-snapshotter's service package) on a unix socket, for a containerd
// of the e2e harness to use as a proxy snapshotter plugin. Debian packages
// only ctr-remote, and the snapshotter's own command is not a module the Go
// proxy serves; the harness needs nothing beyond these flags.
//
// Background fetching is off by default, so the bytes a container reads are
// the bytes fetched: the e2e test measures lazy pulling by them.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/log"
	"github.com/containerd/stargz-snapshotter/service"
	"google.golang.org/grpc"
)

func main() {
	root := flag.String("root", "", "directory for the snapshotter's state and cache (required)")
	address := flag.String("address", "", "unix socket to serve the snapshots API on (required)")
	background := flag.Bool("background-fetch", false, "fetch whole layers in the background after mounting them")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn, error")
	flag.Parse()
	if *root == "" || *address == "" {
		fmt.Fprintln(os.Stderr, "usage: stargzd --root DIR --address SOCKET [--background-fetch] [--log-level LEVEL]")
		os.Exit(2)
	}
	if err := log.SetLevel(*logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "stargzd:", err)
		os.Exit(2)
	}
	if err := run(*root, *address, *background); err != nil {
		fmt.Fprintln(os.Stderr, "stargzd:", err)
		os.Exit(1)
	}
}

func run(root, address string, background bool) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	var cfg service.Config
	cfg.NoBackgroundFetch = !background
	sn, err := service.NewStargzSnapshotterService(ctx, root, &cfg)
	if err != nil {
		return fmt.Errorf("starting the snapshotter in %s: %w", root, err)
	}
	defer sn.Close()
	if err := os.MkdirAll(filepath.Dir(address), 0o700); err != nil {
		return err
	}
	os.Remove(address) // a socket left by a killed run
	l, err := net.Listen("unix", address)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(sn))
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	log.G(ctx).Infof("serving the stargz snapshotter on %s", address)
	return srv.Serve(l)
}
