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
// bare. The answer is 200 {"status":"OK",…} or a FAULT in JSON, whose code
// names the cause (see [Code]).
//
// # Mounting
//
// [NewHandler] returns an [http.Handler] that routes by path suffix, so a host
// mounts it under any prefix:
//
//	h := gateway.NewHandler(notifier, nil) // nil *Options: the defaults
//	mux.Handle("/server/data/gateway/", h)
//
// Routers that match paths themselves mount [Handler.Engage] and
// [Handler.Cancel]. [Options] sets the body limit, authentication
// ([BasicAuth]), logging and metrics.
//
// # Notifiers
//
// The handler decodes and validates a request, then hands it to a
// [Notifier], which gets the invitation to the browser or takes it back, and
// answers 200 only once the notifier has accepted it. Hosts write their own,
// adapt functions with [Funcs], chain several with [Chain], or use one of
// ours: [Discard]; package push, which delivers to browsers over Server-Sent
// Events; [Client], which relays to another GWE-compatible server; and the
// natsfanout module, which spreads events across gateway instances over NATS.
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
