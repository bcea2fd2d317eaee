// img registry is an OCI registry whose blobs are the entries of a
// Bazel remote cache (REAPI CAS), for push_strategy cas_registry: a push
// sends only manifests and tags, and pulls stream layers from the CAS.
// Manifests, tags and blob sizes are kept in --data-dir.
//
// It speaks plain HTTP without authentication and binds to 127.0.0.1 unless
// told otherwise: keep it on loopback or behind a gateway that adds TLS and
// auth.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/casreg"
)

func init() {
	subcommands["registry"] = subcommand{"serve an OCI registry whose blobs are a Bazel remote cache's (push strategy cas_registry)", registryMain}
}

func registryMain(args []string) error {
	fs := flag.NewFlagSet("registry", flag.ExitOnError)
	endpoint := fs.String("reapi-endpoint", "", "REAPI cache the builds use, as Bazel's --remote_cache (grpc://HOST:PORT, grpcs://..., unix://...)")
	instance := fs.String("remote-instance-name", "", "REAPI instance name of that cache")
	helper := fs.String("credential-helper", "", "Bazel credential helper for the cache")
	address := fs.String("address", "127.0.0.1", "address to listen on; the registry has no auth, so keep it on loopback or behind a gateway")
	port := fs.Int("port", 5000, "HTTP port of the registry (0: any free port, printed on stdout)")
	grpcPort := fs.Int("grpc-port", 5001, "gRPC port of the blob cache endpoint, with --enable-blobcache (0: any free port, printed on stdout)")
	blobcache := fs.Bool("enable-blobcache", false, "serve the blob cache endpoint (REAPI FindMissingBlobs) that cas_registry pushes announce their blobs to ($IMG_BLOB_CACHE_ENDPOINT)")
	blobStore := fs.String("blob-store", "reapi", "where uploaded blobs go: reapi (into the CAS) or upstream (kept in --data-dir; the CAS is only read)")
	dataDir := fs.String("data-dir", defaultDataDir(), "where manifests, tags and blob sizes are kept across restarts")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: img registry --reapi-endpoint grpc://HOST:PORT [--port 5000] [--enable-blobcache --grpc-port 5001] [--data-dir DIR]")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	logger := log.New(os.Stderr, "registry: ", log.LstdFlags)
	if *endpoint == "" {
		logger.Fatal("--reapi-endpoint is required: the REAPI cache your builds use (their --remote_cache or --remote_executor)")
	}
	store, err := cas.OpenREAPI(*endpoint, cas.Options{CredentialHelper: *helper, InstanceName: *instance})
	if err != nil {
		logger.Fatal(err)
	}
	var blobs casreg.Blobs = store
	switch *blobStore {
	case "reapi":
	case "upstream":
		blobs = casreg.Local{Dir: filepath.Join(*dataDir, "blobs"), CAS: store}
	default:
		logger.Fatalf("--blob-store %q: use reapi or upstream", *blobStore)
	}
	reg, err := casreg.New(blobs, *dataDir, logger)
	if err != nil {
		logger.Fatal(err)
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*port)))
	if err != nil {
		logger.Fatal(err)
	}
	srv := &http.Server{Handler: reg, ReadHeaderTimeout: 30 * time.Second}
	fmt.Println("registry " + lis.Addr().String())
	logger.Printf("registry on http://%s; blobs in %s; data in %s", lis.Addr(), blobs, *dataDir)
	var stopGRPC func()
	if *blobcache {
		glis, err := net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*grpcPort)))
		if err != nil {
			logger.Fatal(err)
		}
		gs := reg.BlobCache()
		stopGRPC = gs.Stop
		fmt.Println("blobcache grpc://" + glis.Addr().String())
		logger.Printf("blob cache endpoint on grpc://%s", glis.Addr())
		go func() {
			if err := gs.Serve(glis); err != nil {
				logger.Fatal(err)
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		if stopGRPC != nil {
			stopGRPC()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// defaultDataDir follows the XDG state directory.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "rules_img", "registry")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "rules_img", "registry")
	}
	return "rules_img_registry"
}
