package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/engagekit/gateway/push"
)

// Bounds of a signing secret, in bytes once decoded, as the Standard
// Webhooks specification sets them for HMAC-SHA256.
const (
	// MinSecretBytes is the shortest secret [New] takes: 192 bits.
	MinSecretBytes = 24
	// MaxSecretBytes is the longest: 512 bits.
	MaxSecretBytes = 64
)

// secretPrefix marks a symmetric Standard Webhooks secret.
const secretPrefix = "whsec_"

// errSecret refuses a secret; it never quotes it.
var errSecret = errors.New("webhook: the secret must be whsec_ followed by 24 to 64 bytes in standard base64")

// NewSecret returns a new random secret of 32 bytes, written whsec_<base64>
// as [New] and the receivers' libraries read it. Give it to the receiver
// and to the Sender by a channel as safe as any other credential's.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: see crypto/rand.Read
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// parseSecret decodes a whsec_ secret into the HMAC key.
func parseSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errSecret
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, errSecret
	}
	return key, nil
}

// sign returns the webhook-signature header of one attempt: the version
// v1, a comma, and the base64 HMAC-SHA256 of id.timestamp.body.
func sign(key []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// idDomain separates these hashes from any other SHA-256 of the same
// strings; a new version of the derivation changes it.
const idDomain = "engagekit/gateway/webhook outcome id v1\x00"

// MessageID returns the webhook-id of an outcome: msg_ followed by 22
// base64url characters (128 bits of a SHA-256 of its VisitID,
// InteractionID and Result). It depends on nothing else, neither the time,
// the channel, the process nor the secret, so every attempt to deliver an
// outcome, from this process after a restart or from another instance,
// carries the same ID, and a receiver deduplicates on it. It holds no '.',
// which the signed content uses as its separator.
func MessageID(o push.Outcome) string {
	h := sha256.New()
	h.Write([]byte(idDomain))
	// Each field is length-prefixed, so that no two outcomes hash the
	// same input, whatever their IDs contain.
	for _, f := range [...]string{o.VisitID, o.InteractionID, string(o.Result)} {
		h.Write(binary.AppendUvarint(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	return "msg_" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}
