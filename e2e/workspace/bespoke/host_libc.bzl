"""host_libc: the host's glibc and dynamic loader, for a test image whose C binary the host's compiler linked.

A test fixture only: a real base image takes these from Debian packages.
"""

_LIBS = ["libc.so.6", "ld-linux-x86-64.so.2"]

def _host_libc_impl(rctx):
    for name in _LIBS:
        found = [d + "/" + name for d in ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/lib64"] if rctx.path(d + "/" + name).exists]
        if not found:
            fail("host_libc: no %s on this machine (an x86_64 glibc system is needed)" % name)
        result = rctx.execute(["cp", "-L", found[0], name])
        if result.return_code:
            fail("host_libc: copying %s: %s" % (found[0], result.stderr))
    rctx.file("BUILD.bazel", 'exports_files(%r, visibility = ["//visibility:public"])\n' % _LIBS)

host_libc = repository_rule(implementation = _host_libc_impl, local = True)
