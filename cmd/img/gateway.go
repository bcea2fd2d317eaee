// img gateway is a registry gateway for build actions (push at build time,
// tarballs that stream base layers): they send their registry requests here
// without credentials, naming the registry in X-rules_img-Original-Host, and
// the gateway forwards what its policy allows with its own credentials.
// Its clients are not authenticated, so it listens only on loopback or a
// unix socket (next to an executor, or as its sidecar).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rules-img/rules_img/pkg/auth"
	"github.com/rules-img/rules_img/pkg/gateway"
)

func init() {
	subcommands["gateway"] = subcommand{"forward build actions' registry requests that a policy allows, with this machine's credentials (registry_push_gateway, registry_pull_gateway)", gatewayMain}
}

func gatewayMain(args []string) error {
	fs := newSubcommandFlags("gateway")
	policyFile := fs.String("policy-file", "", "JSON policy: version 1, defaultAction, rules of action, registry, repository and operations (first match wins)")
	validate := fs.Bool("validate-policy", false, "check --policy-file and exit")
	allowAll := fs.Bool("dangerously-allow-all", false, "forward every request to every registry, with no policy")
	defaultRegistry := fs.String("default-registry", "", "registry for requests without the X-rules_img-Original-Host header")
	helper := fs.String("credential-helper", "", "Bazel credential helper for the registries, asked before the docker config")
	dockerConfig := fs.String("docker-config", "", "docker config.json for the registries (default: $DOCKER_CONFIG, ~/.docker)")
	socket := fs.String("unix-socket", "", "listen on this unix socket (else --address and --port)")
	socketMode := fs.String("unix-socket-mode", "", "chmod the socket, e.g. 0660")
	address := fs.String("address", "127.0.0.1", "loopback address to listen on: the gateway authenticates no client")
	port := fs.Int("port", 0, "port (0: any free one, printed)")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	var policy *gateway.Policy
	if *policyFile != "" {
		var err error
		if policy, err = gateway.LoadPolicy(*policyFile); err != nil {
			return err
		}
	}
	if *validate {
		if policy == nil {
			return fmt.Errorf("--validate-policy needs --policy-file")
		}
		fmt.Printf("%s: valid, %d rules\n", *policyFile, len(policy.Rules))
		return nil
	}
	if policy == nil && !*allowAll {
		return fmt.Errorf("give --policy-file (the gateway denies everything else), or --dangerously-allow-all")
	}
	kc, err := auth.New(auth.Options{DockerConfig: *dockerConfig, BazelHelper: *helper})
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "img gateway: ", log.LstdFlags)
	srv := &gateway.Server{AllowAll: *allowAll, DefaultRegistry: *defaultRegistry, Keychain: kc, Log: logger}
	if policy != nil {
		srv.SetPolicy(policy)
		if policy.WildcardRegistry() {
			logger.Printf("warning: the policy allows any registry, so clients reach whatever this machine reaches")
		}
	}

	var lis net.Listener
	if *socket != "" {
		os.Remove(*socket)
		if lis, err = net.Listen("unix", *socket); err != nil {
			return err
		}
		if *socketMode != "" {
			mode, err := strconv.ParseUint(*socketMode, 8, 32)
			if err != nil {
				return fmt.Errorf("--unix-socket-mode %q: want octal, e.g. 0660", *socketMode)
			}
			if err := os.Chmod(*socket, os.FileMode(mode)); err != nil {
				return err
			}
		}
	} else {
		if ip := net.ParseIP(*address); *address != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--address %s is not loopback: the gateway authenticates no client, so it serves loopback or a unix socket only", *address)
		}
		if lis, err = net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*port))); err != nil {
			return err
		}
	}
	logger.Printf("listening on %s", lis.Addr())

	// SIGHUP re-reads the policy; a bad file keeps the one in force.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if *policyFile == "" {
				continue
			}
			p, err := gateway.LoadPolicy(*policyFile)
			if err != nil {
				logger.Printf("reload: %v; keeping the policy in force", err)
				continue
			}
			srv.SetPolicy(p)
			logger.Printf("reload: %d rules", len(p.Rules))
		}
	}()

	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
