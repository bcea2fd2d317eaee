// Package leaktest finds the secrets in a fuzzed credential document, so a
// fuzz target can check that no error quotes any of them, whatever the
// fuzzer put there, rather than one literal it seeded.
package leaktest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// minLen: shorter values ("", "a") occur in any message by chance.
const minLen = 4

// Secrets returns the string values found under any of keys (compared
// without case) anywhere in the JSON document doc, each at least minLen
// bytes long. A value under "auth" is also decoded from base64, and the
// password after its colon returned too. A document that is not JSON has no
// secrets this can name.
func Secrets(doc []byte, keys ...string) []string {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) >= minLen {
			out = append(out, s)
		}
	}
	var walk func(v any, secret bool, key string)
	walk = func(v any, secret bool, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, secret || matches(k, keys), k)
			}
		case []any:
			for _, x := range v {
				walk(x, secret, key)
			}
		case string:
			if !secret {
				return
			}
			add(v)
			if strings.EqualFold(key, "auth") {
				if b, err := base64.StdEncoding.DecodeString(v); err == nil {
					_, pass, _ := strings.Cut(string(b), ":")
					add(pass)
				}
			}
		}
	}
	walk(v, false, "")
	return out
}

func matches(k string, keys []string) bool {
	for _, key := range keys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// Quoted returns the first secret msg contains, or "".
func Quoted(msg string, secrets []string) string {
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			return s
		}
	}
	return ""
}
