package push

import "time"

// ExpireTokens does at once what the broker's token timer does when a
// token expires, for tests that move an injected clock (Options.Now). It
// is not part of the API.
func (b *Broker) ExpireTokens(now time.Time) { b.expireTokens(now) }
