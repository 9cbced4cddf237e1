package ifup

import (
	"github.com/diktyo/diktyo/pkg/hostnet"
	"github.com/diktyo/diktyo/pkg/jsonx"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// State records are read and written with pkg/jsonx, not encoding/json:
// diktyo-ifup is a process per NIC up or down, and encoding/json builds
// its reflection caches anew in every one. The bytes are those of
// json.MarshalIndent(r, "", "  ") and json.Marshal(hostnet.Applied), and
// decoding follows encoding/json's rules, so records written before and
// after the change read the same.

// recordIndent is the indent of record files.
const recordIndent = "  "

// appendJSON writes the record as encoding/json marshals a Record.
func (r *Record) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("version")
	w.Int(int64(r.Version))
	w.Key("nic")
	r.NIC.AppendJSON(w)
	w.Key("tap_index")
	w.Int(int64(r.TapIndex))
	w.Key("plan")
	if r.Plan == nil {
		w.Null()
	} else {
		r.Plan.AppendJSON(w)
	}
	if len(r.HostApplied) > 0 {
		w.Key("host_applied")
		w.Raw(r.HostApplied)
	}
	w.Key("complete")
	w.Bool(r.Complete)
	w.Key("updated")
	w.Time(r.Updated)
	w.EndObject()
}

// decodeJSON decodes a record into r as encoding/json unmarshals one.
func (r *Record) decodeJSON(rd *jsonx.Reader) error {
	names := []string{"version", "nic", "tap_index", "plan", "host_applied", "complete", "updated"}
	return rd.Object(names, func(i int) error {
		switch i {
		case 0:
			return rd.Int(&r.Version)
		case 1:
			return r.NIC.DecodeJSON(rd)
		case 2:
			return rd.Int(&r.TapIndex)
		case 3:
			return jsonx.Ptr(rd, &r.Plan, (*netplan.Plan).DecodeJSON)
		case 4:
			return rd.Raw((*[]byte)(&r.HostApplied))
		case 5:
			return rd.Bool(&r.Complete)
		default:
			return rd.Time(&r.Updated)
		}
	})
}

// encodeRecord returns the record file's content: the record indented as
// json.MarshalIndent(r, "", "  ") does, and a newline.
func encodeRecord(r *Record) ([]byte, error) {
	w := jsonx.NewWriter(make([]byte, 0, 4096), recordIndent)
	r.appendJSON(w)
	return append(w.Bytes(), '\n'), w.Err()
}

// decodeRecord decodes a record file's content: one JSON value and white
// space.
func decodeRecord(data []byte) (Record, error) {
	var r Record
	rd := jsonx.NewReader(data)
	if err := r.decodeJSON(rd); err != nil {
		return Record{}, err
	}
	if err := rd.End(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// encodeApplied returns a as json.Marshal does.
func encodeApplied(a *hostnet.Applied) []byte {
	w := jsonx.NewWriter(make([]byte, 0, 512), "")
	a.AppendJSON(w)
	return w.Bytes()
}

// decodeApplied decodes a recorded hostnet.Applied as json.Unmarshal does.
func decodeApplied(data []byte) (hostnet.Applied, error) {
	var a hostnet.Applied
	rd := jsonx.NewReader(data)
	if err := a.DecodeJSON(rd); err != nil {
		return hostnet.Applied{}, err
	}
	if err := rd.End(); err != nil {
		return hostnet.Applied{}, err
	}
	return a, nil
}

// planJSON returns p as json.Marshal does ("null" for nil).
func planJSON(p *netplan.Plan) []byte {
	w := jsonx.NewWriter(make([]byte, 0, 1024), "")
	if p == nil {
		w.Null()
	} else {
		p.AppendJSON(w)
	}
	return w.Bytes()
}
