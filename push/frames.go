package push

import (
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/jsonscan"
)

// engageFrame encodes the engage event of contract §6: the invitation
// object, with the interactionID as the event's id.
func engageFrame(p *gateway.Profile, expiresAt time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "event: engage\nid: "...)
	b = append(b, p.InteractionID...) // [A-Za-z0-9._:-]: safe in a field
	b = append(b, "\ndata: {\"interactionID\":"...)
	b = jsonscan.AppendString(b, p.InteractionID)
	b = append(b, `,"visitID":`...)
	b = jsonscan.AppendString(b, p.VisitID)
	if p.PageID != "" {
		b = append(b, `,"pageID":`...)
		b = jsonscan.AppendString(b, p.PageID)
	}
	b = append(b, `,"channels":[`...)
	for i, c := range p.Channels {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, c)
	}
	b = append(b, ']')
	if p.Language != "" {
		b = append(b, `,"language":`...)
		b = jsonscan.AppendString(b, p.Language)
	}
	if p.Invitation != nil {
		inv, _ := p.Invitation.MarshalJSON() // cannot fail
		b = append(b, `,"invitation":`...)
		b = append(b, inv...)
	}
	b = append(b, `,"expiresAt":"`...)
	b = expiresAt.UTC().AppendFormat(b, time.RFC3339)
	return append(b, "\"}\n\n"...)
}

// cancelFrame encodes the cancel event: {"interactionID":…,"reason":…}.
func cancelFrame(id, reason string) []byte {
	b := make([]byte, 0, 96)
	b = append(b, "event: cancel\ndata: {\"interactionID\":"...)
	b = jsonscan.AppendString(b, id)
	b = append(b, `,"reason":`...)
	b = jsonscan.AppendString(b, reason)
	return append(b, "}\n\n"...)
}

// heartbeat is the comment line that keeps an idle stream open.
var heartbeat = []byte(": heartbeat\n\n")
