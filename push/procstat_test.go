package push_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// procUsage returns the CPU time process pid has used so far and how many
// times its threads have gone to sleep (voluntary context switches: each
// is a wakeup to come), summed over its threads, from /proc, where the
// system has it (Linux). Read from outside, it costs the process nothing,
// unlike a request to its /cpu endpoint, which wakes it. ok is false
// where /proc does not tell.
func procUsage(pid int) (cpu time.Duration, sleeps int64, ok bool) {
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*"))
	if err != nil || len(tasks) == 0 {
		return 0, 0, false
	}
	for _, task := range tasks {
		// schedstat: time on the CPU, in nanoseconds, first.
		stat, err := os.ReadFile(filepath.Join(task, "schedstat"))
		if err != nil {
			continue // the thread has exited
		}
		ns, err := strconv.ParseInt(string(bytes.Fields(stat)[0]), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		cpu += time.Duration(ns)
		status, err := os.ReadFile(filepath.Join(task, "status"))
		if err != nil {
			continue
		}
		for line := range bytes.Lines(status) {
			if rest, ok := bytes.CutPrefix(line, []byte("voluntary_ctxt_switches:")); ok {
				n, _ := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
				sleeps += n
			}
		}
	}
	return cpu, sleeps, true
}
