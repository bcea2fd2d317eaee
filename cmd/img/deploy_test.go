package main

import (
	"testing"

	"github.com/rules-img/rules_img/pkg/deploy"
)

// TestSourcesInstanceName: the spec's remote_instance_name wins, else
// $IMG_REAPI_INSTANCE_NAME, as for the endpoint itself.
func TestSourcesInstanceName(t *testing.T) {
	for _, tc := range []struct{ spec, env, want string }{
		{"", "", "grpc://127.0.0.1:1"},
		{"", "from-env", `grpc://127.0.0.1:1 (instance "from-env")`},
		{"from-spec", "from-env", `grpc://127.0.0.1:1 (instance "from-spec")`},
	} {
		t.Setenv("IMG_REAPI_INSTANCE_NAME", tc.env)
		src, err := sources(&deploy.Spec{Label: "//t:push", RemoteCache: "grpc://127.0.0.1:1", RemoteInstance: tc.spec})
		if err != nil {
			t.Fatal(err)
		}
		if got := src.Cache.String(); got != tc.want {
			t.Errorf("spec %q, env %q: cache %q, want %q", tc.spec, tc.env, got, tc.want)
		}
	}
}
