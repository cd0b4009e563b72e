// Package gateway is an embeddable Genesys Web Engagement (GWE) gateway: the
// engage and noengage HTTP endpoints that an orchestration strategy calls to
// invite a website visitor to a chat or a callback, and to take the
// invitation back.
//
// # The endpoints
//
// A strategy sends POST …/server/data/gateway/engage with an ixnProfile
// parameter (a JSON object, [Profile]) and POST …/server/data/gateway/noengage
// with cancelData ([CancelData]); the older …/backend/data/gateway paths work
// the same. The parameter may come form-encoded (as ORS sends it), in the
// query string, in a multipart form, or as JSON: wrapped, double-encoded or
// bare. A body comes as it is: a Content-Encoding other than identity, or a
// multipart part in base64, is refused (415). The answer is 200
// {"status":"OK",…} or a FAULT in JSON, whose code names the cause (see
// [Code]).
//
// GWE's Notification API, POST …/server/data/notification/notify/{visitID}
// with a JSON array of messages ([Notification], [Message]), is served the
// same way when the notifier is also a [Messenger], as package push's
// Broker is (contract §9); [Handler.Mount] registers its paths with the
// others.
//
// # Mounting
//
// [NewHandler] returns an [http.Handler] that routes by path suffix, so a host
// mounts it under any prefix; [Handler.Mount] registers it at GWE's paths,
// both families, notify included:
//
//	h := gateway.NewHandler(notifier, nil) // nil *Options: the defaults
//	h.Mount(mux)                           // or mux.Handle("/server/data/gateway/", h)
//
// Routers that match paths themselves mount [Handler.Engage],
// [Handler.Cancel] and [Handler.Notify]. [Options] sets the limits on a request, authentication
// ([BasicAuth]), the refusal of browsers, logging and metrics.
//
// # What a host must set
//
// The handler bounds what a client makes it read: a body to
// [Options.MaxBodyBytes] (64 KiB; a query string to the same), and the
// time a body takes to arrive to [Options.ReadBodyTimeout] (5 s). It decodes
// no Content-Encoding (415), so what it reads is what it holds. The rest
// is the host's:
//
//   - [http.Server.ReadHeaderTimeout]: headers arrive before any handler
//     runs, so only the server can bound them. Without it, a client that
//     sends a header line now and then holds a connection and a goroutine
//     for as long as it likes. A few seconds.
//   - [http.Server.IdleTimeout]: how long a keep-alive connection may wait
//     for its next request. Zero means ReadTimeout, and with that zero too,
//     for ever. A minute or two.
//   - [http.Server.MaxHeaderBytes] bounds the request line and headers,
//     the query string with them (1 MB by default). The handler refuses a
//     query string over MaxBodyBytes, but only once the server has read it;
//     MaxBodyBytes and a few KiB is enough.
//   - A WriteTimeout of some seconds suits the engage API, whose answers are
//     small. For the event streams of package push, mounted on the same
//     server, see that package.
//   - Where a browser can reach the engage endpoints (on the same public
//     mux as package push's routes, say), set [Options.RefuseBrowsers], so
//     that no web page can engage or cancel through its visitors' browsers,
//     and authenticate the strategies with [Options.Authenticate] (see
//     [BasicAuth]), or serve the endpoints on a listener of their own that
//     only the strategies' servers can reach.
//
// The bound on the body is set as a read deadline through the
// ResponseWriter; middleware that wraps the ResponseWriter must have an
// Unwrap method (as [http.ResponseController] requires) for it to apply.
//
// # Notifiers
//
// The handler decodes and validates a request, then hands it to a
// [Notifier], which gets the invitation to the browser or takes it back, and
// answers 200 only once the notifier has accepted it. Hosts write their own,
// adapt functions with [Funcs], chain several with [Chain], or use one of
// ours: [Discard]; package push, which delivers to browsers over Server-Sent
// Events, on one instance or, on a shared backend (the natsfanout and
// redisfanout modules), across many; and [Client], which relays to another
// GWE-compatible server.
//
// # Validation
//
// The rules of each field are validator tags on [Profile] and [CancelData]
// (github.com/go-playground/validator/v10), and [Profile.Validate] runs the
// validator. Faults come back as a VALIDATION [*Fault] whose Fields name
// fields by their JSON path and never quote their values. Keys a Profile has no field
// for are kept in Extra and written back by json.Marshal, so nothing a
// strategy attached is lost.
//
// For speed the handler checks each request first with the same tags,
// compiled into plain checks when the package loads, and runs the validator
// only when that check does not pass: every rejection, and every report,
// comes from the validator. A fuzz test checks that the compiled check never
// accepts what the validator rejects.
//
// # Errors
//
// Every error of the package is one type, [*Fault]: a [Code], the Message
// shown to the sender, the Fields of a VALIDATION fault, a RetryAfter and a
// Challenge for the headers, and the cause (Err) for logs, which is never
// shown. The Handler writes Faults, a notifier returns them, and the [Client]
// returns the server's answer as one. Conditions a caller branches on are
// sentinel Faults ([ErrValidation], [ErrEngagementInProgress],
// [ErrUnavailable], …), matched by code with [errors.Is] on both sides of
// the wire:
//
//	if errors.Is(err, gateway.ErrEngagementInProgress) { … }
//	var f *gateway.Fault
//	if errors.As(err, &f) { … f.Code, f.Message, f.Fields … }
//
// One table maps codes to HTTP statuses, and one function writes every
// FAULT ([WriteError], for endpoints of the host's own).
package gateway
