package layer

import (
	"path"

	"github.com/rules-img/rules_img/pkg/layer/estargz"
)

// landmarkEntry is the eStargz landmark as an item of the layer.
func landmarkEntry(prioritized bool) *item {
	h := estargz.Landmark(prioritized)
	return &item{name: h.Name, kind: h.Typeflag, size: h.Size, data: estargz.LandmarkData, origin: "eStargz landmark",
		attrs: attrs{mode: h.Mode, mtime: h.ModTime}}
}

// estargzOrder moves the prioritized paths (each with its parent
// directories, in the order given) to the front of items and puts the
// landmark after them. Everything else keeps its order. A path missing from
// the layer is an error: a typo would silently make lazy pulling slow.
func estargzOrder(spec *Spec, items []*item) ([]*item, error) {
	byName := make(map[string]int, len(items))
	for i, it := range items {
		if estargz.Reserved(it.name) {
			return nil, spec.errorf("/%s (%s) is a name eStargz reserves for its own entries; move the file, or turn eStargz off", it.name, it.origin)
		}
		byName[it.name] = i
	}
	picked := make([]bool, len(items))
	var front []*item
	pick := func(name string) bool {
		i, ok := byName[name]
		if ok && !picked[i] {
			picked[i] = true
			front = append(front, items[i])
		}
		return ok
	}
	for _, p := range spec.PrioritizedFiles {
		rel, err := checkPath(p)
		if err != nil || rel == "" {
			return nil, spec.errorf("prioritized_files: %q is not a file path in the image", p)
		}
		var parents []string
		for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
			parents = append(parents, dir)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			pick(parents[i])
		}
		if !pick(rel) {
			return nil, spec.errorf("prioritized_files: %s is not in the layer; list paths of its srcs or symlinks", p)
		}
	}
	out := append(front, landmarkEntry(len(spec.PrioritizedFiles) > 0))
	for i, it := range items {
		if !picked[i] {
			out = append(out, it)
		}
	}
	return out, nil
}
