"""trust_store: CA certificates as a PEM bundle and OpenSSL's hashed directory."""

load(":base_content.bzl", "BASE_CONTENT_ATTRS", "base_content", "check_mode")
load(":common/labels.bzl", "display_label")

def _trust_store_impl(ctx):
    keystore = [ctx.actions.declare_file(ctx.label.name + ".cacerts.p12")] if ctx.attr.java_keystore else []
    debs = []
    for target in ctx.attr.debs:
        group = target[OutputGroupInfo] if OutputGroupInfo in target else None
        files = group.deb.to_list() if group and hasattr(group, "deb") else target.files.to_list()
        for f in files:
            if not f.basename.endswith(".deb"):
                fail("%s: debs: %s is not a .deb; give a package file or a deb_package (@REPO//NAME:data or :deb)" % (display_label(ctx.label), f.short_path))
        debs += files
    return base_content(ctx, "trust-store", "any", {
        "certs": [f.path for f in ctx.files.certs],
        "debs": [f.path for f in debs],
        "rpms": [f.path for f in ctx.files.rpms],
        "bundle": ctx.attr.bundle,
        "bundle_path": ctx.attr.bundle_path,
        "exploded": ctx.attr.exploded,
        "exploded_dir": ctx.attr.exploded_dir,
        "mode": check_mode(ctx, "mode"),
        "java_keystore": keystore[0].path if keystore else "",
        "java_keystore_password": ctx.attr.java_keystore_password,
        "java_keystore_path": ctx.attr.java_keystore_path,
    }, inputs = ctx.files.certs + debs + ctx.files.rpms, outputs = keystore)

trust_store = rule(
    implementation = _trust_store_impl,
    doc = """The CA certificates TLS clients in the image trust.

Every certificate in certs (PEM with any number of them, DER, or a PKCS#7
bundle) and in the packages of debs and rpms is written once, in one order on every machine, as:
- a PEM bundle (bundle_path), what SSL_CERT_FILE and most TLS libraries read;
- one PEM per certificate in exploded_dir, with the `<subject hash>.0` links
  OpenSSL finds a CA by (the hash is OpenSSL's own, `openssl x509 -subject_hash`);
- with java_keystore, a PKCS#12 truststore for the JVM.

A file holding no certificate fails the build: an image that quietly lacks a CA
fails much later. Keys or CRLs beside certificates in a PEM file are skipped.
Applies on every target platform.

```
trust_store(
    name = "trust",
    certs = ["//pki:corporate-root.pem", "//pki:mozilla-roots.pem"],
)
```""",
    attrs = dict(
        BASE_CONTENT_ATTRS,
        certs = attr.label_list(doc = "Certificate files: PEM, DER or PKCS#7.", allow_files = True),
        debs = attr.label_list(
            doc = "Debian packages (.deb files or deb_package targets, such as the deb extension's @REPO//ca-certificates:data) whose " +
                  "usr/share/ca-certificates and usr/local/share/ca-certificates certificates to add; nothing else in them is read.",
            allow_files = True,
        ),
        rpms = attr.label_list(
            doc = "RPM packages whose certificates under etc/pki/ca-trust/source/anchors and " +
                  "usr/share/pki/ca-trust-source/anchors to add (a corporate CA's package); nothing else in them is read.",
            allow_files = [".rpm"],
        ),
        bundle = attr.bool(doc = "Write the PEM bundle.", default = True),
        bundle_path = attr.string(doc = "Image path of the bundle.", default = "/etc/ssl/certs/ca-certificates.crt"),
        exploded = attr.bool(doc = "Write the hashed certificate directory.", default = True),
        exploded_dir = attr.string(doc = "Image path of that directory.", default = "/etc/ssl/certs"),
        java_keystore = attr.bool(
            doc = "Also write a PKCS#12 truststore for the JVM (AES-256, SHA-256 MAC; Java 8u301 and later), " +
                  "trusted certificates only, the same bytes for the same certificates.",
        ),
        java_keystore_password = attr.string(
            doc = "The truststore's password. It guards only the file's integrity (a truststore holds no secret); " +
                  "changeit is the JDK's default.",
            default = "changeit",
        ),
        java_keystore_path = attr.string(doc = "Image path of the truststore.", default = "/etc/ssl/certs/java/cacerts"),
        mode = attr.string(doc = "Octal mode of the files; empty is 0644."),
    ),
    toolchains = ["//img:toolchain_type"],
)
