package deploy

import (
	"io"
	"testing"
)

// TestSourcesInstanceName: the spec's remote_instance_name wins, else
// $IMG_REAPI_INSTANCE_NAME, as for the endpoint itself.
func TestSourcesInstanceName(t *testing.T) {
	for _, tc := range []struct{ spec, env, want string }{
		{"", "", "grpc://127.0.0.1:1"},
		{"", "from-env", `grpc://127.0.0.1:1 (instance "from-env")`},
		{"from-spec", "from-env", `grpc://127.0.0.1:1 (instance "from-spec")`},
	} {
		env := Env{Stderr: io.Discard, Getenv: func(k string) string {
			if k == "IMG_REAPI_INSTANCE_NAME" {
				return tc.env
			}
			return ""
		}}
		src, err := (&Spec{Label: "//t:push", RemoteCache: "grpc://127.0.0.1:1", RemoteInstance: tc.spec}).Sources(env)
		if err != nil {
			t.Fatal(err)
		}
		if got := src.Cache.String(); got != tc.want {
			t.Errorf("spec %q, env %q: cache %q, want %q", tc.spec, tc.env, got, tc.want)
		}
	}
}

// A run-time --repository may carry the registry, as rules_oci's does.
func TestSplitHost(t *testing.T) {
	for _, tc := range []struct{ in, host, rest string }{
		{"ghcr.io/team/app", "ghcr.io", "team/app"},
		{"localhost:5000/app", "localhost:5000", "app"},
		{"localhost/app", "localhost", "app"},
		{"team/app", "", ""},
		{"app", "", ""},
		{"ghcr.io/", "", ""},
	} {
		host, rest, ok := splitHost(tc.in)
		if host != tc.host || rest != tc.rest || ok != (tc.host != "") {
			t.Errorf("splitHost(%q) = %q %q %v, want %q %q", tc.in, host, rest, ok, tc.host, tc.rest)
		}
	}
}
