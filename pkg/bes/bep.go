package bes

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The few fields of Bazel's build_event_stream.BuildEvent this backend reads.
// Decoding them by field number keeps Bazel's proto tree (and its imports)
// out of the build; proto field numbers never change.
const (
	fieldEventID          = 1  // BuildEvent.id
	fieldEventCompleted   = 8  // BuildEvent.completed (TargetComplete)
	fieldEventNamedSet    = 15 // BuildEvent.named_set_of_files
	fieldEventStarted     = 5  // BuildEvent.started (BuildStarted)
	fieldEventLastMessage = 20 // BuildEvent.last_message

	fieldIDTargetCompleted = 5  // BuildEventId.target_completed
	fieldIDNamedSet        = 13 // BuildEventId.named_set
	fieldTargetLabel       = 1  // TargetCompletedId.label
	fieldTargetAspect      = 2  // TargetCompletedId.aspect
	fieldNamedSetID        = 1  // NamedSetOfFilesId.id

	fieldSetFiles    = 1 // NamedSetOfFiles.files
	fieldSetChildren = 2 // NamedSetOfFiles.file_sets
	fieldFileName    = 1 // File.name
	fieldFileURI     = 2 // File.uri

	fieldCompleteSuccess = 1 // TargetComplete.success
	fieldCompleteGroups  = 2 // TargetComplete.output_group
	fieldGroupName       = 1 // OutputGroup.name
	fieldGroupSets       = 3 // OutputGroup.file_sets

	fieldStartedUUID    = 1 // BuildStarted.uuid
	fieldStartedCommand = 5 // BuildStarted.command
)

// bepTypeURL is the type of the Any that carries a Bazel build event.
const bepTypeURL = "type.googleapis.com/build_event_stream.BuildEvent"

// event is what one build event says that matters here.
type event struct {
	last bool

	// A NamedSetOfFiles.
	setID       string
	setFiles    []file
	setChildren []string

	// A TargetComplete.
	label       string
	aspect      string
	completed   bool
	success     bool
	defaultSets []string // the file sets of output group "default"

	// BuildStarted.
	uuid, command string
}

type file struct{ name, uri string }

// decodeEvent reads a build_event_stream.BuildEvent.
func decodeEvent(b []byte) (event, error) {
	var ev event
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldEventID && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				switch {
				case num == fieldIDNamedSet && typ == protowire.BytesType:
					ev.setID = stringField(v, fieldNamedSetID)
				case num == fieldIDTargetCompleted && typ == protowire.BytesType:
					return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
						if typ == protowire.BytesType {
							switch num {
							case fieldTargetLabel:
								ev.label = string(v)
							case fieldTargetAspect:
								ev.aspect = string(v)
							}
						}
						return nil
					})
				}
				return nil
			})
		case num == fieldEventLastMessage && typ == protowire.VarintType:
			ev.last = n != 0
		case num == fieldEventNamedSet && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case fieldSetFiles:
					ev.setFiles = append(ev.setFiles, file{name: stringField(v, fieldFileName), uri: stringField(v, fieldFileURI)})
				case fieldSetChildren:
					ev.setChildren = append(ev.setChildren, stringField(v, fieldNamedSetID))
				}
				return nil
			})
		case num == fieldEventCompleted && typ == protowire.BytesType:
			ev.completed = true
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				switch {
				case num == fieldCompleteSuccess && typ == protowire.VarintType:
					ev.success = n != 0
				case num == fieldCompleteGroups && typ == protowire.BytesType:
					if stringField(v, fieldGroupName) != "default" {
						return nil
					}
					return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
						if num == fieldGroupSets && typ == protowire.BytesType {
							ev.defaultSets = append(ev.defaultSets, stringField(v, fieldNamedSetID))
						}
						return nil
					})
				}
				return nil
			})
		case num == fieldEventStarted && typ == protowire.BytesType:
			ev.uuid = stringField(v, fieldStartedUUID)
			ev.command = stringField(v, fieldStartedCommand)
		}
		return nil
	})
	return ev, err
}

// fields calls f for every field of a message: its bytes for a
// length-delimited field, its value for a varint.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return fmt.Errorf("build event: %w", protowire.ParseError(l))
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return fmt.Errorf("build event: field %d: %w", num, protowire.ParseError(l))
		}
		b = b[l:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// stringField returns the string field num of a message, "" when absent or
// malformed.
func stringField(b []byte, num protowire.Number) string {
	var s string
	_ = fields(b, func(n protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if n == num && typ == protowire.BytesType {
			s = string(v)
		}
		return nil
	})
	return s
}
