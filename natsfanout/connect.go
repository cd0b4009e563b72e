package natsfanout

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions returns NATS connection options for a gateway instance:
// reconnect forever, quickly, and log connection events to logger (nil:
// no logging).
func ConnectOptions(logger *slog.Logger) []nats.Option {
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}
	if logger == nil {
		return opts
	}
	return append(opts,
		nats.ConnectHandler(func(nc *nats.Conn) { logger.Info("nats: connected", "url", nc.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: a disconnect asked for (Close, Drain)
				logger.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logger.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(*nats.Conn) { logger.Info("nats: connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { logger.Warn("nats: error", "err", err) }),
	)
}
