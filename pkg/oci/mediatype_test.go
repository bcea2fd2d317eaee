package oci

import "testing"

func TestMediaTypeValid(t *testing.T) {
	for mt, want := range map[MediaType]bool{
		MediaTypeEmpty: true,
		"application/vnd.cncf.helm.config.v1+json": true,
		"application/spdx+json":                    true,
		"text/plain":                               true,
		"":                                         false,
		"helm":                                     false,
		"helm config/json":                         false,
		"application/":                             false,
		"/json":                                    false,
		"application/json; charset=utf-8":          false,
		"application/a/b":                          false,
		"application/+json":                        false,
	} {
		if got := mt.Valid(); got != want {
			t.Errorf("%q.Valid() = %v, want %v", mt, got, want)
		}
	}
}
