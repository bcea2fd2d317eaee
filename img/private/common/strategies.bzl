"""The push and load strategies: how a deploy target gets layer bytes to where they go.

STRATEGIES is the one table of them on the Starlark side (pkg/deploy's
Strategy type holds Go's): the strategy attributes, the push_strategy and
load_strategy settings and the launcher's choices all derive from it.
"""

# name -> struct(
#   doc: what it does, for the strategy attribute's doc,
#   for_load: whether image_load offers it (push always does),
#   blobs_in_runfiles: the layers are runfiles of the target,
#   push_request: `bazel build` writes a push request for a BES backend).
STRATEGIES = {
    "eager": struct(doc = "layers are runfiles", for_load = True, blobs_in_runfiles = True, push_request = False),
    "lazy": struct(doc = None, for_load = True, blobs_in_runfiles = False, push_request = False),
    "cas_registry": struct(
        doc = ("as lazy, into a registry that serves blobs out of the CAS, `cmd/registry`: only manifests " +
               "and tags are sent; see docs/guide.md#push-into-a-registry-on-the-cas"),
        for_load = False,
        blobs_in_runfiles = False,
        push_request = False,
    ),
    "bes": struct(
        doc = ("`bazel build` writes a push request that a Build Event Service backend, `cmd/bes`, pushes " +
               "from the CAS; see docs/guide.md#push-from-the-build-event-service"),
        for_load = False,
        blobs_in_runfiles = False,
        push_request = True,
    ),
}

PUSH_STRATEGY_VALUES = sorted(STRATEGIES.keys())
LOAD_STRATEGY_VALUES = sorted([name for name, s in STRATEGIES.items() if s.for_load])
