package base

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rules-img/rules_img/pkg/layer"
)

// PasswdOptions are etc_passwd's attributes. Users and Groups are the JSON
// strings passwd_entry() and group_entry() return.
type PasswdOptions struct {
	Users                 []string `json:"users"`
	Groups                []string `json:"groups"`
	PasswdSrcs            []string `json:"passwd_srcs"`
	GroupSrcs             []string `json:"group_srcs"`
	ShadowSrcs            []string `json:"shadow_srcs"`
	CreateHomeDirectories bool     `json:"create_home_directories"`
	HomeDirectoryMode     string   `json:"home_directory_mode"`
	Mode                  string   `json:"mode"`
	ShadowMode            string   `json:"shadow_mode"`
	PasswdPath            string   `json:"passwd_path"`
	GroupPath             string   `json:"group_path"`
	ShadowPath            string   `json:"shadow_path"`
	WriteShadow           bool     `json:"write_shadow"`
}

// User is one passwd line.
type User struct {
	Username string `json:"username"`
	UID      int64  `json:"uid"`
	GID      int64  `json:"gid"`
	Gecos    string `json:"gecos"`
	Home     string `json:"home"`
	Shell    string `json:"shell"`
}

// Group is one group line.
type Group struct {
	Name  string   `json:"name"`
	GID   int64    `json:"gid"`
	Users []string `json:"users"`
}

func checkField(what, v string) error {
	if strings.ContainsAny(v, ":\n\r\x00") {
		return fmt.Errorf("%s %q holds a ':' or a line break, which the file format cannot hold", what, v)
	}
	return nil
}

// ids keeps names and numeric IDs unique: two users with one name or UID are
// an error, not a merge.
type ids struct {
	what    string
	names   map[string]string
	numbers map[int64]string
}

func newIDs(what string) *ids {
	return &ids{what: what, names: map[string]string{}, numbers: map[int64]string{}}
}

func (s *ids) add(name string, id int64, from string) error {
	if id < 0 || id > 1<<32-2 {
		return fmt.Errorf("%s %q (%s): id %d is out of range", s.what, name, from, id)
	}
	if prev, ok := s.names[name]; ok {
		return fmt.Errorf("%s name %q is defined twice (%s and %s); remove one", s.what, name, prev, from)
	}
	if prev, ok := s.numbers[id]; ok {
		return fmt.Errorf("%s id %d is used twice (%s and %s); give each its own", s.what, id, prev, from)
	}
	s.names[name], s.numbers[id] = from, from
	return nil
}

// fileRecords splits a passwd-style file into records, skipping blank lines
// and comments.
func fileRecords(text string) [][]string {
	var out [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}

// Passwd writes /etc/passwd, /etc/group, a locked /etc/shadow and the users'
// home directories.
func Passwd(raw []byte, fill Filler) ([]layer.Entry, error) {
	var o PasswdOptions
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	mode, err := fileAttrs(o.Mode, 0o644, map[string]string{"passwd_path": o.PasswdPath, "group_path": o.GroupPath, "shadow_path": o.ShadowPath})
	if err != nil {
		return nil, err
	}
	shadowMode, err := parseMode("shadow_mode", o.ShadowMode, 0o640)
	if err != nil {
		return nil, err
	}
	homeMode, err := parseMode("home_directory_mode", o.HomeDirectoryMode, 0o750)
	if err != nil {
		return nil, err
	}

	users, userIDs := []User{}, newIDs("user")
	srcs, err := readFiles(o.PasswdSrcs)
	if err != nil {
		return nil, err
	}
	for i, text := range srcs {
		for _, r := range fileRecords(text) {
			if len(r) != 7 {
				return nil, fmt.Errorf("passwd_srcs %s: %q is not a passwd line (7 fields separated by ':')", o.PasswdSrcs[i], strings.Join(r, ":"))
			}
			uid, err1 := strconv.ParseInt(r[2], 10, 64)
			gid, err2 := strconv.ParseInt(r[3], 10, 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("passwd_srcs %s: %q has a non-numeric uid or gid", o.PasswdSrcs[i], strings.Join(r, ":"))
			}
			u := User{Username: r[0], UID: uid, GID: gid, Gecos: r[4], Home: r[5], Shell: r[6]}
			if err := userIDs.add(u.Username, u.UID, o.PasswdSrcs[i]); err != nil {
				return nil, err
			}
			users = append(users, u)
		}
	}
	firstOwn := len(users)
	for i, s := range o.Users {
		s, err := fill(s)
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		u := User{Home: "/", Shell: "/sbin/nologin"}
		if err := decode([]byte(s), &u); err != nil {
			return nil, fmt.Errorf("users: %q is not a passwd_entry(): %w", s, err)
		}
		for what, v := range map[string]string{"username": u.Username, "gecos": u.Gecos, "home": u.Home, "shell": u.Shell} {
			if err := checkField("users: "+what, v); err != nil {
				return nil, err
			}
		}
		if u.Username == "" {
			return nil, fmt.Errorf("users: %q has no username", s)
		}
		if err := userIDs.add(u.Username, u.UID, fmt.Sprintf("users[%d]", i)); err != nil {
			return nil, err
		}
		users = append(users, u)
	}

	groups, groupIDs := []Group{}, newIDs("group")
	srcs, err = readFiles(o.GroupSrcs)
	if err != nil {
		return nil, err
	}
	for i, text := range srcs {
		for _, r := range fileRecords(text) {
			gid, err := strconv.ParseInt(r[min(2, len(r)-1)], 10, 64)
			if len(r) != 4 || err != nil {
				return nil, fmt.Errorf("group_srcs %s: %q is not a group line (name:x:gid:members)", o.GroupSrcs[i], strings.Join(r, ":"))
			}
			g := Group{Name: r[0], GID: gid}
			if r[3] != "" {
				g.Users = strings.Split(r[3], ",")
			}
			if err := groupIDs.add(g.Name, g.GID, o.GroupSrcs[i]); err != nil {
				return nil, err
			}
			groups = append(groups, g)
		}
	}
	for i, s := range o.Groups {
		s, err := fill(s)
		if err != nil {
			return nil, fmt.Errorf("groups: %w", err)
		}
		var g Group
		if err := decode([]byte(s), &g); err != nil {
			return nil, fmt.Errorf("groups: %q is not a group_entry(): %w", s, err)
		}
		if g.Name == "" {
			return nil, fmt.Errorf("groups: %q has no name", s)
		}
		for _, v := range append([]string{g.Name}, g.Users...) {
			if err := checkField("groups: name", v); err != nil {
				return nil, err
			}
		}
		if err := groupIDs.add(g.Name, g.GID, fmt.Sprintf("groups[%d]", i)); err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	for _, g := range groups {
		for _, m := range g.Users {
			if _, ok := userIDs.names[m]; !ok {
				return nil, fmt.Errorf("group %q lists member %q, who is no user; add a passwd_entry for %q or drop the member", g.Name, m, m)
			}
		}
	}

	var pw, gr strings.Builder
	for _, u := range users {
		fmt.Fprintf(&pw, "%s:x:%d:%d:%s:%s:%s\n", u.Username, u.UID, u.GID, u.Gecos, u.Home, u.Shell)
	}
	for _, g := range groups {
		fmt.Fprintf(&gr, "%s:x:%d:%s\n", g.Name, g.GID, strings.Join(g.Users, ","))
	}
	out := []layer.Entry{file(o.PasswdPath, pw.String(), mode), file(o.GroupPath, gr.String(), mode)}

	if o.WriteShadow {
		kept := map[string]string{}
		srcs, err := readFiles(o.ShadowSrcs)
		if err != nil {
			return nil, err
		}
		for _, text := range srcs {
			for _, r := range fileRecords(text) {
				kept[r[0]] = strings.Join(r, ":")
			}
		}
		var sh strings.Builder
		for _, u := range users {
			line, ok := kept[u.Username]
			if !ok {
				// Locked: no password hash ever enters the build.
				line = u.Username + ":!*:::::::"
			}
			sh.WriteString(line + "\n")
		}
		out = append(out, file(o.ShadowPath, sh.String(), shadowMode))
	}

	if o.CreateHomeDirectories {
		for _, u := range users[firstOwn:] {
			if u.Home == "/" || u.Home == "" {
				continue
			}
			if err := checkPath("users: home", u.Home); err != nil {
				return nil, err
			}
			e := layer.Entry{Path: u.Home, Type: layer.TypeDir, Metadata: metadata(homeMode, u.UID, u.GID)}
			if u.UID == 0 {
				e.Metadata = metadata(0o700, 0, 0)
			}
			out = append(out, e)
		}
	}
	return out, nil
}
