package leaktest

import (
	"slices"
	"testing"
)

func TestSecrets(t *testing.T) {
	doc := []byte(`{"auths": {"r": {"auth": "dTpzM2NyM3Q=", "email": "me@x"}, "s": {"password": "hunter22", "username": "bob"}}, "headers": {"Authorization": ["Bearer abcd"]}}`)
	got := Secrets(doc, "auth", "password", "headers")
	slices.Sort(got)
	want := []string{"Bearer abcd", "dTpzM2NyM3Q=", "hunter22", "s3cr3t"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if Secrets([]byte("not json s3cr3t"), "auth") != nil {
		t.Fatal("secrets from a non-JSON document")
	}
	if Quoted("failed: hunter22", got) != "hunter22" || Quoted("failed", got) != "" {
		t.Fatal("Quoted")
	}
}
