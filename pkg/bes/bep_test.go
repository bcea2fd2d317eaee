package bes

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// msg builds a protobuf message from (field, value) pairs: a []byte or
// string is length-delimited, a uint64 a varint.
func msg(kv ...any) []byte {
	var b []byte
	for i := 0; i < len(kv); i += 2 {
		num := protowire.Number(kv[i].(int))
		switch v := kv[i+1].(type) {
		case string:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendString(b, v)
		case []byte:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		case uint64:
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, v)
		}
	}
	return b
}

func TestDecodeNamedSet(t *testing.T) {
	ev, err := decodeEvent(msg(
		fieldEventID, msg(fieldIDNamedSet, msg(fieldNamedSetID, "7")),
		fieldEventNamedSet, msg(
			fieldSetFiles, msg(fieldFileName, "app/push.img_push.json", fieldFileURI, "bytestream://h:1/blobs/ab/12", 5, "ignored digest"),
			fieldSetFiles, msg(fieldFileName, "app/push.sh", fieldFileURI, "bytestream://h:1/blobs/cd/3"),
			fieldSetChildren, msg(fieldNamedSetID, "3"),
		),
		99, uint64(1), // an unknown field is skipped
	))
	if err != nil {
		t.Fatal(err)
	}
	if ev.setID != "7" || len(ev.setFiles) != 2 || ev.setFiles[0].name != "app/push.img_push.json" ||
		ev.setFiles[0].uri != "bytestream://h:1/blobs/ab/12" || len(ev.setChildren) != 1 || ev.setChildren[0] != "3" {
		t.Errorf("decoded %+v", ev)
	}
}

func TestDecodeTargetComplete(t *testing.T) {
	ev, err := decodeEvent(msg(
		fieldEventID, msg(fieldIDTargetCompleted, msg(fieldTargetLabel, "//app:push")),
		fieldEventCompleted, msg(
			fieldCompleteSuccess, uint64(1),
			fieldCompleteGroups, msg(fieldGroupName, "_hidden_top_level_INTERNAL_", fieldGroupSets, msg(fieldNamedSetID, "1")),
			fieldCompleteGroups, msg(fieldGroupName, "default", fieldGroupSets, msg(fieldNamedSetID, "2"), fieldGroupSets, msg(fieldNamedSetID, "4")),
		),
		fieldEventLastMessage, uint64(1),
	))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.completed || !ev.success || ev.label != "//app:push" || strings.Join(ev.defaultSets, ",") != "2,4" || !ev.last {
		t.Errorf("decoded %+v", ev)
	}
}

func TestDecodeTruncated(t *testing.T) {
	b := msg(fieldEventID, msg(fieldIDTargetCompleted, msg(fieldTargetLabel, "//app:push")))
	if _, err := decodeEvent(b[:len(b)-3]); err == nil {
		t.Error("a truncated event decoded")
	}
}

func TestParseBytestreamURI(t *testing.T) {
	hash, sha1 := strings.Repeat("ab", 32), strings.Repeat("cd", 20)
	for _, c := range []struct {
		uri, instance string
		size          int64
		err           string
		digest        string // "": sha256:<hash>
	}{
		{"bytestream://127.0.0.1:8980/blobs/" + hash + "/42", "", 42, "", ""},
		{"bytestream://cache.example:443/ci/main/blobs/" + hash + "/7", "ci/main", 7, "", ""},
		// --digest_function=SHA1
		{"bytestream://127.0.0.1:8980/blobs/" + sha1 + "/42", "", 42, "", "sha1:" + sha1},
		{"file:///home/u/.cache/bazel/x.img_push.json", "", 0, "--remote_cache or --remote_executor", ""},
		{"bytestream://h/blobs/" + hash, "", 0, "is not bytestream://", ""},
		{"bytestream://h/blobs/zz/7", "", 0, "not a sha256 or sha1 hash", ""},
		{"bytestream://h/blobs/" + hash + "/999999999999", "", 0, "size", ""},
		{"http://h/blobs/" + hash + "/7", "", 0, "not a bytestream", ""},
	} {
		if c.digest == "" {
			c.digest = "sha256:" + hash
		}
		instance, digest, size, err := parseBytestreamURI(c.uri)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one saying %q", c.uri, err, c.err)
			}
			continue
		}
		if err != nil || instance != c.instance || size != c.size || digest != c.digest {
			t.Errorf("%s: %q %q %d %v", c.uri, instance, digest, size, err)
		}
	}
}
