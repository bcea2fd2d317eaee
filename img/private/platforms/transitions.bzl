"""The split transition that builds an index's manifests once per platform."""

_PLATFORMS = "//command_line_option:platforms"

def _platforms_split_impl(settings, attr):
    if not attr.platforms:
        return {"": {_PLATFORMS: settings[_PLATFORMS]}}
    return {str(p): {_PLATFORMS: [p]} for p in attr.platforms}

platforms_split = transition(
    implementation = _platforms_split_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)
