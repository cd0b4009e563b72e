package gateway

import "context"

// runEngage is the engage operation (contract §1, §3): decode the ixnProfile
// text, validate it, and hand it to the notifier.
func (h *Handler) runEngage(ctx context.Context, text string) (string, error) {
	p := new(Profile)
	if err := p.decode(text); err != nil || !fastValidProfile(p, &h.langs) {
		if err := checked(err, p.Validate); err != nil {
			return "", err
		}
		learnProfile(p, &h.langs)
	}
	if err := h.n.Engage(ctx, p); err != nil {
		return "", notifierError(err)
	}
	return p.InteractionID, nil
}
