package oci

import "testing"

func TestPlatformMatching(t *testing.T) {
	p := func(s string) Platform {
		t.Helper()
		q, err := ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	win := func(version string) Platform {
		return Platform{OS: "windows", Architecture: "amd64", OSVersion: version}
	}
	for _, c := range []struct {
		a, b                 Platform
		matches, same, takes bool
	}{
		{p("linux/amd64"), p("linux/amd64/v1"), true, true, true},
		{p("linux/arm64"), p("linux/arm64/v8"), true, true, true},
		{p("linux/arm"), p("linux/arm/v7"), true, true, true},
		{p("linux/arm"), p("linux/arm/v6"), false, false, true},
		{p("linux/arm/v7"), p("linux/arm/v6"), false, false, false},
		{p("linux/amd64/v3"), p("linux/amd64"), false, false, true},
		{p("linux/amd64"), p("linux/arm64"), false, false, false},
		{p("linux/amd64"), p("windows/amd64"), false, false, false},
		{win("10.0.17763"), win("10.0.20348"), true, false, true},
		{win("10.0.17763"), win("10.0.17763"), true, true, true},
	} {
		if got := c.a.Matches(c.b); got != c.matches {
			t.Errorf("%s.Matches(%s) = %v", c.a, c.b, got)
		}
		if got := c.a.Same(c.b); got != c.same {
			t.Errorf("%s.Same(%s) = %v", c.a, c.b, got)
		}
		if got := c.a.Takes(c.b); got != c.takes {
			t.Errorf("%s.Takes(%s) = %v", c.a, c.b, got)
		}
		if c.a.Matches(c.b) != c.b.Matches(c.a) || c.a.Same(c.b) != c.b.Same(c.a) {
			t.Errorf("%s and %s: matching is not symmetric", c.a, c.b)
		}
	}
	if err := p("linux/x86_64").Check(); err == nil {
		t.Error("linux/x86_64 passed the check")
	}
	if err := p("linux/arm/V7").Check(); err == nil {
		t.Error("variant V7 passed the check")
	}
	if err := p("linux/arm64/v8").Check(); err != nil {
		t.Error(err)
	}
}
