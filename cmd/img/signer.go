package main

import (
	"os"

	"github.com/rules-img/rules_img/pkg/signers"
)

func init() {
	subcommands["signer"] = subcommand{"signer plugins for signing_config (cosign, notation): sign one descriptor, answer an OCI layout", signerMain}
}

// signerMain is `img signer NAME sign-oci-artifact FLAGS`: what
// @rules_img//img/signer:cosign and :notation run.
func signerMain(args []string) error {
	if len(args) == 0 {
		return signers.Main("", nil, os.Stdin, os.Stdout, os.Stderr)
	}
	return signers.Main(args[0], args[1:], os.Stdin, os.Stdout, os.Stderr)
}
