// img registry is an OCI registry whose blobs are the entries of a
// Bazel remote cache (REAPI CAS), for push_strategy cas_registry: a push
// sends only manifests and tags, and pulls stream layers from the CAS.
// Manifests, tags and blob sizes are kept in --data-dir.
//
// It speaks plain HTTP without authentication and binds to 127.0.0.1 unless
// told otherwise: keep it on loopback or behind a gateway that adds TLS and
// auth. The blob cache endpoint decides which blob sizes the registry
// believes, so off loopback it requires a token.
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
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

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
	blobcacheAddr := fs.String("blobcache-address", "127.0.0.1", "address of the blob cache endpoint; other than loopback it needs --blobcache-token-file")
	tokenFile := fs.String("blobcache-token-file", "", "file holding a token the blob cache endpoint requires (\"authorization: Bearer TOKEN\"); pushers name the file in $IMG_BLOB_CACHE_TOKEN_FILE")
	blobStore := fs.String("blob-store", "reapi", "where uploaded blobs go: reapi (into the CAS) or upstream (kept in --data-dir; the CAS is only read)")
	dataDir := fs.String("data-dir", defaultDataDir(), "where manifests, tags and blob sizes are kept across restarts")
	maxUpload := fs.Int64("max-upload-size", casreg.DefaultMaxUploadSize, "largest blob an upload may hold, in bytes")
	expiry := fs.Duration("upload-expiry", casreg.DefaultUploadExpiry, "an upload session unused this long is removed")
	idle := fs.Duration("idle-timeout", casreg.DefaultIdleTimeout, fmt.Sprintf("a request body or blob response that moves less than %d KiB in this time is cut off", casreg.MinProgress>>10))
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM or SIGINT, how long requests in flight may take to finish")
	digestFn := fs.String("digest-function", "sha256", "the function the cache keys blobs by, as the builds' --digest_function: sha256 or sha1")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: img registry --reapi-endpoint grpc://HOST:PORT [--port 5000] [--enable-blobcache --grpc-port 5001] [--data-dir DIR]")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	logger := log.New(os.Stderr, "registry: ", log.LstdFlags)
	if *endpoint == "" {
		logger.Fatal("--reapi-endpoint is required: the REAPI cache your builds use (their --remote_cache or --remote_executor)")
	}
	token, err := blobcacheToken(*blobcache, *blobcacheAddr, *tokenFile)
	if err != nil {
		logger.Fatal(err)
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
	reg, err := casreg.New(blobs, *dataDir, casreg.Options{Log: logger, MaxUploadSize: *maxUpload, UploadExpiry: *expiry, IdleTimeout: *idle, CASDigestFunction: *digestFn})
	if err != nil {
		logger.Fatal(err)
	}
	defer reg.Close()
	lis, err := net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*port)))
	if err != nil {
		logger.Fatal(err)
	}
	srv := &http.Server{Handler: reg, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Println("registry " + lis.Addr().String())
	logger.Printf("registry on http://%s; blobs in %s; data in %s", lis.Addr(), blobs, *dataDir)
	var gs *grpc.Server
	if *blobcache {
		glis, err := net.Listen("tcp", net.JoinHostPort(*blobcacheAddr, strconv.Itoa(*grpcPort)))
		if err != nil {
			logger.Fatal(err)
		}
		gs = reg.BlobCache(token)
		fmt.Println("blobcache grpc://" + glis.Addr().String())
		auth := "no token: loopback only"
		if token != "" {
			auth = "token of " + *tokenFile
		}
		logger.Printf("blob cache endpoint on grpc://%s (%s)", glis.Addr(), auth)
		go func() {
			if err := gs.Serve(glis); err != nil {
				logger.Fatal(err)
			}
		}()
	}
	drained := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		logger.Printf("%v: no new connections; requests in flight have %s to finish", s, *drain)
		ctx, cancel := context.WithTimeout(context.Background(), *drain)
		defer cancel()
		if gs != nil {
			go func() { <-ctx.Done(); gs.Stop() }()
			gs.GracefulStop()
		}
		if err := srv.Shutdown(ctx); err != nil {
			logger.Printf("drain: %v; the rest are cut off", err)
		}
		close(drained)
	}()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Serve returns as soon as Shutdown begins; the drain is what matters.
	<-drained
	logger.Printf("stopped")
	return nil
}

// blobcacheToken reads --blobcache-token-file, and refuses a blob cache
// endpoint off loopback without one: whoever can call it decides the sizes
// the registry reads the CAS with.
func blobcacheToken(enabled bool, addr, file string) (string, error) {
	if !enabled {
		return "", nil
	}
	if file == "" {
		if ip := net.ParseIP(addr); addr != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("--blobcache-address %s is not loopback: give --blobcache-token-file (and pushers IMG_BLOB_CACHE_TOKEN_FILE), or keep the endpoint on 127.0.0.1", addr)
		}
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--blobcache-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("--blobcache-token-file %s: want one token on one line", file)
	}
	return token, nil
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
