"""Splitting a binary's layer by runfiles groups: RunfilesGroupInfo where the
binary provides it, else rules_img's own grouping (language runtime, other
repositories, the main repository), merged down to layer_budget."""

load(":image_layer.bzl", "binary_entries", "python_runtime_files")
load(":providers/providers.bzl", "RunfilesGroupInfo")

# Lower ranks change less often and go to lower layers.
RUNFILES_GROUP_RANKS = struct(
    FOUNDATION = 0,  # a language runtime, a standard library
    OTHER_PARTY = 1,  # external repositories
    FIRST_PARTY = 2,  # the main repository
    EXECUTABLE = 3,  # the binary and what launches it
)

def _content_files(content):
    if type(content) == "depset":
        return content.to_list()
    return content.files.to_list()

def _declared_groups(target, items):
    # Each item goes to the first declared group holding its file; what no
    # group holds (the binary, the repo mapping) goes to the executable's
    # group, or to a layer of its own on top when there is none.
    info = target[RunfilesGroupInfo]
    owner = {}
    groups = []
    for e in sorted(info.entries, key = lambda e: e.rank):
        groups.append(struct(name = e.name, rank = e.rank, items = []))
        for f in _content_files(e.content):
            if f not in owner:
                owner[f] = len(groups) - 1
    top = None
    for i, g in enumerate(groups):
        if g.name == info.executable_group:
            top = i
    own_layer = top == None
    if own_layer:
        groups.append(struct(name = "executable", rank = RUNFILES_GROUP_RANKS.EXECUTABLE + 1, items = []))
        top = len(groups) - 1
    for item in items:
        i = owner.get(item.file, top) if item.runfile != None else top
        groups[i].items.append(item)
    return groups, own_layer

def _fallback_groups(ctx, items):
    runtime = {f: True for f in python_runtime_files(ctx)}
    groups = [
        struct(name = "runtime", rank = RUNFILES_GROUP_RANKS.FOUNDATION, items = []),
        struct(name = "external", rank = RUNFILES_GROUP_RANKS.OTHER_PARTY, items = []),
        struct(name = "main", rank = RUNFILES_GROUP_RANKS.FIRST_PARTY, items = []),
    ]
    for item in items:
        if item.runfile == None or item.runfile == "_repo_mapping":
            groups[2].items.append(item)
        elif item.file != None and item.file in runtime:
            groups[0].items.append(item)
        elif item.runfile.split("/")[0] == ctx.workspace_name:
            groups[2].items.append(item)
        else:
            groups[1].items.append(item)
    return groups

def _merge_within_ranks(groups, budget):
    # rules_runfiles_group's rule: groups merge only with a neighbour of the
    # same rank, the lightest pair first, so a runtime never shares a layer
    # with app code. The budget is a target: distinct ranks stay apart.
    for _ in range(len(groups)):
        if budget <= 0 or len(groups) <= budget:
            break
        best = None
        for i in range(len(groups) - 1):
            if groups[i].rank != groups[i + 1].rank:
                continue
            weight = len(groups[i].items) + len(groups[i + 1].items)
            if best == None or weight < best[1]:
                best = (i, weight)
        if best == None:
            break
        i = best[0]
        low, nxt = groups[i], groups[i + 1]
        merged = struct(name = low.name + "+" + nxt.name, rank = low.rank, items = low.items + nxt.items)
        groups = groups[:i] + [merged] + groups[i + 2:]
    return groups

def _merge_from_bottom(groups, budget):
    # The fallback's groups have a rank each; merging the two lowest keeps
    # the app a layer of its own as long as the budget allows.
    for _ in range(len(groups)):
        if len(groups) <= budget:
            break
        low, nxt = groups[0], groups[1]
        groups = [struct(name = low.name + "+" + nxt.name, rank = nxt.rank, items = low.items + nxt.items)] + groups[2:]
    return groups

def runfiles_groups(ctx, path, target, budget):
    """The binary's layer contents in groups, bottom first, or None for one layer.

    Args:
        ctx: context of layer_from_binary.
        path: the binary's image path.
        target: the binary.
        budget: layer_budget: 0 for no limit.

    Returns:
        list of struct(name, rank, items: list of binary_entries items), or None.
    """
    if not ctx.attr.include_runfiles:
        return None
    if RunfilesGroupInfo in target:
        groups, own_layer = _declared_groups(target, binary_entries(ctx, path, target))
        if own_layer:
            # As upstream: the binary's own layer takes one of the budget,
            # and a budget of 1 leaves no room for groups.
            if budget == 1:
                return None
            groups = _merge_within_ranks([g for g in groups[:-1] if g.items], budget - 1 if budget else 0) + groups[-1:]
        else:
            groups = _merge_within_ranks([g for g in groups if g.items], budget)
    elif budget >= 2:
        groups = _merge_from_bottom([g for g in _fallback_groups(ctx, binary_entries(ctx, path, target)) if g.items], budget)
    else:
        return None
    return groups if len(groups) > 1 else None
