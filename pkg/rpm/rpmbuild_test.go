package rpm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRpmbuild reads packages rpmbuild wrote, with each payload
// compression it offers (tools/setup.sh installs Debian's rpm).
func TestRpmbuild(t *testing.T) {
	if _, err := exec.LookPath("rpmbuild"); err != nil {
		t.Fatal("rpmbuild is not on PATH; run tools/setup.sh (Debian's rpm package)")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "corp.pem"), []byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"), 0o644)
	spec := filepath.Join(dir, "corp-ca.spec")
	os.WriteFile(spec, []byte(`Name: corp-ca
Version: 1.0
Release: 1
Summary: a CA
License: MIT
BuildArch: noarch
%description
A corporate CA.
%install
mkdir -p %{buildroot}/etc/pki/ca-trust/source/anchors %{buildroot}/usr/share/doc/corp-ca
cp %{_sourcedir}/corp.pem %{buildroot}/etc/pki/ca-trust/source/anchors/corp.pem
echo readme > %{buildroot}/usr/share/doc/corp-ca/README
%files
/etc/pki/ca-trust/source/anchors/corp.pem
/usr/share/doc/corp-ca/README
`), 0o644)
	for _, payload := range []string{"w9.gzdio", "w6.xzdio", "w19.zstdio", "w9.bzdio"} {
		t.Run(payload, func(t *testing.T) {
			top := filepath.Join(dir, payload)
			out, err := exec.Command("rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--define", "_sourcedir "+dir,
				"--define", "_rpmdir "+top, "--define", "_tmppath "+dir, "--define", "_binary_payload "+payload, spec).CombinedOutput()
			if err != nil {
				t.Fatalf("rpmbuild: %v\n%s", err, out)
			}
			got, err := Files(filepath.Join(top, "noarch", "corp-ca-1.0-1.noarch.rpm"), func(string) bool { return true })
			if err != nil {
				t.Fatal(err)
			}
			if s := fmt.Sprint(len(got), " ", string(got["usr/share/doc/corp-ca/README"])); s != "2 readme\n" || len(got["etc/pki/ca-trust/source/anchors/corp.pem"]) == 0 {
				t.Errorf("files = %q", got)
			}
		})
	}
}
