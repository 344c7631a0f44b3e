package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/store"
)

// storeResidueFlag runs storeResidue in a process of its own (the bench
// re-executes itself with it): the figure must not include the bench's
// memory.
const storeResidueFlag = "-store-residue"

// storeResidueKB measures what the store alone keeps after n connections'
// connect and disconnect events, as the agent stores them during an idle
// burst: SQLite's page cache and its allocator's spares, which the store's
// budget bounds (docs/agent.md, "Memory"). It tells that part of the
// agent's residue after a burst from the connections' part.
func storeResidueKB(n int) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	out, err := exec.Command(exe, storeResidueFlag, strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("store residue: %w: %s", err, out)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// storeResidue is the child's side: it prints the RSS added, in KB, after
// the agent's two release passes (cmd/minipot/memory.go).
func storeResidue(n int) error {
	dir, err := os.MkdirTemp("", "minipot-store-residue-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(dir+"/events.db", store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	release := func() {
		st.ReleaseMemory(ctx)
		debug.FreeOSMemory()
	}
	time.Sleep(time.Second)
	release()
	rss0 := selfRSSKB()
	for i := range n {
		for _, a := range []event.Action{event.Connect, event.Disconnect} {
			st.Emit(&event.Event{Time: time.Now(), Service: "23tcp", Port: 23, ConnID: int64(i), Action: a,
				SrcIP: fmt.Sprintf("127.1.%d.%d", i/250%256, 1+i%250), SrcPort: 40000 + i%20000})
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // as connections come, not all at once into the queue
		}
	}
	if err := st.Flush(ctx); err != nil {
		return err
	}
	release()
	time.Sleep(3 * time.Second)
	release()
	fmt.Println(selfRSSKB() - rss0)
	return nil
}

func selfRSSKB() int { return rssKB("/proc/self/status") }
