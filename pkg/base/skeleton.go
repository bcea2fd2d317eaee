package base

import (
	"fmt"

	"github.com/rules-img/rules_img/pkg/layer"
)

// SkeletonOptions are linux_skeleton's attributes. A group is "auto" or
// "enabled" to create it, "disabled" to leave it out.
type SkeletonOptions struct {
	BinAndLib        string                    `json:"bin_and_lib"`
	Etc              string                    `json:"etc"`
	Home             string                    `json:"home"`
	MountPoints      string                    `json:"mount_points"`
	OptSrv           string                    `json:"opt_srv"`
	Root             string                    `json:"root"`
	Run              string                    `json:"run"`
	Tmp              string                    `json:"tmp"`
	Var              string                    `json:"var"`
	UsrMerged        bool                      `json:"usr_merged"`
	ExtraDirectories map[string]layer.Metadata `json:"extra_directories"`
}

func on(attr, v string) (bool, error) {
	switch v {
	case "", "auto", "enabled":
		return true, nil
	case "disabled":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not auto, enabled or disabled", attr, v)
}

// Skeleton is the empty directory tree of a Linux system, with the modes a
// distribution gives it: 0755 for what the system owns, 1777 for shared
// scratch space, 0700 for /root, 0555 for /proc and /sys.
func Skeleton(raw []byte, _ Filler) ([]layer.Entry, error) {
	var o SkeletonOptions
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	var out []layer.Entry
	groups := []struct {
		attr, value string
		entries     func() []layer.Entry
	}{
		{"bin_and_lib", o.BinAndLib, func() []layer.Entry {
			e := []layer.Entry{dir("/usr", 0o755), dir("/usr/bin", 0o755), dir("/usr/sbin", 0o755), dir("/usr/lib", 0o755),
				dir("/usr/share", 0o755), dir("/usr/local", 0o755), dir("/usr/local/bin", 0o755), dir("/usr/local/lib", 0o755)}
			for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
				if o.UsrMerged {
					e = append(e, symlink("/"+d, "usr/"+d))
				} else {
					e = append(e, dir("/"+d, 0o755))
				}
			}
			if o.UsrMerged {
				e = append(e, dir("/usr/lib64", 0o755))
			}
			return e
		}},
		{"etc", o.Etc, func() []layer.Entry { return []layer.Entry{dir("/etc", 0o755)} }},
		{"home", o.Home, func() []layer.Entry { return []layer.Entry{dir("/home", 0o755)} }},
		{"mount_points", o.MountPoints, func() []layer.Entry {
			return []layer.Entry{dir("/dev", 0o755), dir("/proc", 0o555), dir("/sys", 0o555), dir("/mnt", 0o755), dir("/media", 0o755)}
		}},
		{"opt_srv", o.OptSrv, func() []layer.Entry { return []layer.Entry{dir("/opt", 0o755), dir("/srv", 0o755)} }},
		{"root", o.Root, func() []layer.Entry { return []layer.Entry{dir("/root", 0o700)} }},
		{"run", o.Run, func() []layer.Entry { return []layer.Entry{dir("/run", 0o755), dir("/run/lock", 0o1777)} }},
		{"tmp", o.Tmp, func() []layer.Entry { return []layer.Entry{dir("/tmp", 0o1777)} }},
		{"var", o.Var, func() []layer.Entry {
			e := []layer.Entry{dir("/var", 0o755), dir("/var/cache", 0o755), dir("/var/lib", 0o755), dir("/var/log", 0o755),
				dir("/var/spool", 0o755), dir("/var/tmp", 0o1777)}
			if run, _ := on("run", o.Run); run {
				e = append(e, symlink("/var/run", "../run"), symlink("/var/lock", "../run/lock"))
			}
			return e
		}},
	}
	for _, g := range groups {
		enabled, err := on(g.attr, g.value)
		if err != nil {
			return nil, err
		}
		if enabled {
			out = append(out, g.entries()...)
		}
	}
	for _, p := range sortedKeys(o.ExtraDirectories) {
		if err := checkPath("extra_directories", p); err != nil {
			return nil, err
		}
		m := o.ExtraDirectories[p]
		e := dir(p, 0o755)
		overlay(e.Metadata, m) // the given fields win over 0755, root
		out = append(out, e)
	}
	return out, nil
}
