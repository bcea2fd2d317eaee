// img bes is a Build Event Service backend that pushes images built
// with --@rules_img//img/settings:push_strategy=bes. Point Bazel at it with
// --bes_backend=grpc://ADDRESS:PORT; it reads push requests and layers from
// the CAS at --cas-endpoint and pushes them with its own registry
// credentials (docker config and credential helpers, as `img push`).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	build "google.golang.org/genproto/googleapis/devtools/build/v1"
	"google.golang.org/grpc"

	"github.com/rules-img/rules_img/pkg/bes"
	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/sign"
)

func init() {
	subcommands["bes"] = subcommand{"serve a Build Event Service backend that pushes images of push strategy bes", besMain}
}

func besMain(args []string) error {
	fs := flag.NewFlagSet("bes", flag.ExitOnError)
	address := fs.String("address", "127.0.0.1", "address to listen on; the service has no auth, so keep it on loopback or behind a gateway")
	port := fs.Int("port", 8980, "gRPC port Bazel's --bes_backend points at (0: any free port, printed on stdout)")
	casEndpoint := fs.String("cas-endpoint", "", "REAPI cache the builds use, as Bazel's --remote_cache (grpc://HOST:PORT, grpcs://..., unix://...)")
	helper := fs.String("credential-helper", "", "Bazel credential helper for the CAS")
	jobs := fs.Int("jobs", 8, "images pushed at once")
	pushTimeout := fs.Duration("push-timeout", bes.DefaultPushTimeout, "longest one image push may take before it fails")
	maxInstances := fs.Int("max-instances", 16, "CAS clients kept open, one per REAPI instance name the builds use")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM or SIGINT, how long streams in flight may take to finish")
	signer := fs.String("signer", "", "signs pushes whose target asks for it: cosign or notation (img's own plugins), or the path of a sign-oci-artifact plugin; keys come from this process's environment")
	var signerArgs repeatedFlag
	fs.Var(&signerArgs, "signer-arg", "argument of the signer after sign-oci-artifact, e.g. --key=env://COSIGN_KEY (repeat)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: img bes --cas-endpoint grpc://HOST:PORT [--address 127.0.0.1] [--port 8980]")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	logger := log.New(os.Stderr, "bes: ", log.LstdFlags)
	if *casEndpoint == "" {
		logger.Fatal("--cas-endpoint is required: the REAPI cache your builds use (their --remote_cache or --remote_executor)")
	}
	stores := &bes.Stores{Max: *maxInstances, Open: func(instance string) (cas.Store, error) {
		return cas.Open(*casEndpoint, cas.Options{CredentialHelper: *helper, InstanceName: instance})
	}}
	backend := &bes.Backend{Log: logger, Jobs: *jobs, PushTimeout: *pushTimeout, Store: stores.Get}
	if *signer != "" {
		p, err := backendSigner(*signer, signerArgs)
		if err != nil {
			logger.Fatal(err)
		}
		backend.Signer = p
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*port)))
	if err != nil {
		logger.Fatal(err)
	}
	srv := grpc.NewServer()
	build.RegisterPublishBuildEventServer(srv, backend)
	fmt.Println(lis.Addr().String())
	logger.Printf("listening on %s; CAS %s", lis.Addr(), cas.Redact(*casEndpoint))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	drained := make(chan struct{})
	go func() {
		s := <-sig
		logger.Printf("%v: no new streams; those in flight have %s to finish", s, *drain)
		t := time.AfterFunc(*drain, srv.Stop)
		srv.GracefulStop()
		t.Stop()
		close(drained)
	}()
	if err := srv.Serve(lis); err != nil {
		return err
	}
	<-drained
	return nil
}

// backendSigner is the plugin of --signer: img's own cosign or notation
// signer (this binary), or a plugin program.
func backendSigner(name string, args []string) (*sign.Plugin, error) {
	p := &sign.Plugin{Config: "img bes --signer " + name, Args: args}
	switch name {
	case "cosign", "notation":
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		p.Path, p.Prefix = self, []string{"signer", name}
	default:
		path, err := exec.LookPath(name)
		if err != nil {
			return nil, fmt.Errorf("--signer %s: %w", name, err)
		}
		p.Path = path
	}
	return p, nil
}
