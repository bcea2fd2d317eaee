"""Attributes that shape a layer's descriptor rather than its bytes, shared by
image_layer (and the rules built on write_layer) and layer_from_tar."""

LAYER_DESCRIPTOR_ATTRS = {
    "annotations_file": attr.label(
        doc = "More annotations from a file: a JSON object (string values, or lists whose last item wins), a JSON " +
              "array of \"KEY=VALUE\" strings, or KEY=VALUE lines (# comments). annotations wins over it.",
        allow_single_file = True,
    ),
    "media_type": attr.string(
        doc = "The layer's media type instead of the one its compression implies, e.g. an artifact's own type. " +
              "An OCI or Docker layer type must name the layer's compression.",
    ),
}
