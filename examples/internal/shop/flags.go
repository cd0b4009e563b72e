package shop

import (
	"flag"
	"log/slog"
	"os"

	"github.com/engagekit/gateway/examples/internal/lifecycle"
)

// Flags declares on fs the flags the demo and the cluster share: those of
// [SecurityFlags] and of [lifecycle.Flags]. The function it returns, called
// after fs.Parse with the program's name, makes the program's logger and
// resolves the flags, or logs what is wrong with them and exits with
// status 2.
func Flags(fs *flag.FlagSet) func(program string) (*slog.Logger, Security, *lifecycle.Setup) {
	security := SecurityFlags(fs)
	lifecycleFlags := lifecycle.Flags(fs)
	return func(program string) (*slog.Logger, Security, *lifecycle.Setup) {
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		sec, err := security()
		if err != nil {
			log.Error(program, "err", err)
			os.Exit(2)
		}
		lc, err := lifecycleFlags(log)
		if err != nil {
			log.Error(program, "err", err)
			os.Exit(2)
		}
		return log, sec, lc
	}
}
