package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/rules-img/rules_img/pkg/auth"
	"github.com/rules-img/rules_img/pkg/pull"
)

func init() {
	subcommands["pull"] = subcommand{"fetch an image's index, manifests and configs (layers only with --layers eager)", pullMain}
}

// registryFlags are the credential and transport flags shared by every
// command that talks to a registry.
type registryFlags struct {
	dockerConfig     string
	credentialHelper string
	insecure         bool
}

func (r *registryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.dockerConfig, "docker-config", "", "docker config.json to read credentials from (default $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json)")
	fs.StringVar(&r.credentialHelper, "credential-helper", "", "credential helper NAME (runs docker-credential-NAME) for every registry, instead of the docker config")
	fs.BoolVar(&r.insecure, "insecure", false, "allow plain HTTP and unverified TLS (loopback registries may use HTTP without it)")
}

func (r *registryFlags) keychain() (*auth.Keychain, error) {
	return auth.New(auth.Options{DockerConfig: r.dockerConfig, CredentialHelper: r.credentialHelper})
}

// signalContext is cancelled by Ctrl-C, so that downloads stop promptly and
// clean up their .partial files.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

func pullMain(args []string) error {
	fs := newSubcommandFlags("pull")
	var o pull.Options
	var rf registryFlags
	var layers string
	fs.StringVar(&o.Registry, "registry", "", "registry host[:port], e.g. index.docker.io")
	fs.StringVar(&o.Repository, "repository", "", "repository, e.g. library/alpine")
	fs.StringVar(&o.Digest, "digest", "", "sha256:... digest of the image's manifest or index")
	fs.StringVar(&o.Tag, "tag", "", "tag, recorded only (resolved only with --allow-tag-only and no --digest)")
	fs.BoolVar(&o.AllowTagOnly, "allow-tag-only", false, "resolve --tag when --digest is not given (not reproducible)")
	fs.StringVar(&o.OutDir, "out", "", "output directory: image.json, blobs/sha256/, layers/")
	fs.StringVar(&layers, "layers", "shallow", "shallow: layer metadata only; eager: also download layer blobs")
	fs.StringVar(&o.Name, "name", "", "name of the image for messages, e.g. the Bazel repository")
	rf.register(fs)
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "registry", "repository", "out"); err != nil {
		return err
	}
	switch layers {
	case "shallow":
	case "eager":
		o.Eager = true
	default:
		return fmt.Errorf("--layers must be shallow or eager, not %q", layers)
	}
	if o.Digest == "" && !o.AllowTagOnly {
		return fmt.Errorf("--digest is required (or --tag with --allow-tag-only)")
	}
	kc, err := rf.keychain()
	if err != nil {
		return err
	}
	o.Keychain, o.Insecure, o.Progress = kc, rf.insecure, os.Stderr
	ctx, stop := signalContext()
	defer stop()
	p, err := pull.Pull(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, p.Summary(o))
	return nil
}
