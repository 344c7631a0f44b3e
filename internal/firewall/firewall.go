// Package firewall installs the rules that send an attacker's connection to
// a minipot only when the router would have rejected it otherwise (the
// firewall contract of DESIGN.md), for IPv4 and IPv6: with nftables in a
// table of its own (nftables.go; the default on fw4 routers), or with
// iptables (nft or legacy flavour) inside chains of its own. New chooses
// the backend (router.go); the facts and decisions are shared (core.go,
// plan.go, openwrt.go).
//
// The package has a pure half and a half that runs iptables. Plan turns
// settings and the facts of the router (WAN devices, listening sockets,
// what the OpenWrt firewall accepts from the WAN) into the wanted rules;
// diff turns wanted and present rules into the few operations that make
// one into the other. IPTables gathers the facts, reads the present rules,
// runs the operations and rolls them back when one fails.
//
// Rule layout, per family (docs/firewall.md explains why):
//
//	nat PREROUTING (last rule)    -p tcp -m addrtype --dst-type LOCAL -j MINIPOT_PREROUTING
//	nat MINIPOT_PREROUTING        -i WAN -j CONNMARK --set-xmark W/W      (one per WAN device)
//	                              -m connmark ! --mark W/W -j RETURN
//	                              [-s SRC] [-d DST] -p tcp --dport P -m socket --nowildcard -j RETURN   (accepted port: a real service listening)
//	                              -p tcp --dport P -j CONNMARK --set-xmark R/R
//	                              -p tcp --dport P -j REDIRECT --to-ports P+offset
//	filter INPUT (first rule)     -m connmark --mark W/W -j MINIPOT_INPUT
//	filter MINIPOT_INPUT          -m connmark --mark R/R -m conntrack --ctstate DNAT -j ACCEPT
//	                              -p tcp --dport P+offset -j REJECT --reject-with tcp-reset
//
// W and R are the two bits of fakes.mark_mask: W (the lower) marks a new TCP
// connection that came in on a WAN device, is addressed to the router and
// was not port-forwarded; R (the higher) marks one that minipot redirected.
package firewall

import (
	"context"
	"fmt"
	"strings"

	"github.com/minipot/minipot/internal/settings"
)

// Firewall is what the CLI and the control API need from this package.
type Firewall interface {
	// Apply converges the rules to what s and the router's current state
	// call for, changing only what differs. On error nothing is changed.
	Apply(ctx context.Context, s settings.Settings) (Changes, error)
	// Remove deletes every rule and chain minipot added.
	Remove(ctx context.Context) (Changes, error)
	// Status reports what is installed and what Apply would change.
	Status(ctx context.Context, s settings.Settings) (Status, error)
}

// Family is an IP version.
type Family int

// The families, in the order they are applied.
const (
	IPv4 Family = iota
	IPv6
)

var families = [...]Family{IPv4, IPv6}

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// MarshalText writes the family as "ipv4" or "ipv6".
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads "ipv4" or "ipv6".
func (f *Family) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ipv4":
		*f = IPv4
	case "ipv6":
		*f = IPv6
	default:
		return fmt.Errorf("unknown family %q", b)
	}
	return nil
}

// command is the iptables command of the family, for messages.
func (f Family) command() string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// The chains minipot owns, and the comment on its jumps into built-in chains.
const (
	ChainNAT    = "MINIPOT_PREROUTING" // table nat
	ChainFilter = "MINIPOT_INPUT"      // table filter
	hookComment = "minipot"
)

// Changes is what an Apply or Remove did.
type Changes struct {
	Backend  string     `json:"backend"`
	Ops      []Op       `json:"ops"`
	Calls    int        `json:"iptables_calls"` // iptables invocations, reads included
	Services []Decision `json:"services,omitempty"`
	Notes    []string   `json:"notes,omitempty"`
}

// Status is what is installed, why, and what Apply would change.
type Status struct {
	Backend       string         `json:"backend"`
	BackendReason string         `json:"backend_reason"`
	Commands      []string       `json:"commands"`
	Enabled       bool           `json:"enabled"`
	WANDevices    []string       `json:"wan_devices"`
	WANSource     string         `json:"wan_source"`
	PolicySource  string         `json:"policy_source"`
	Families      []FamilyStatus `json:"families"`
	Services      []Decision     `json:"services"`
	InSync        bool           `json:"in_sync"`
	Pending       []Op           `json:"pending,omitempty"`
	Problem       string         `json:"problem,omitempty"` // why no plan could be made
	Notes         []string       `json:"notes,omitempty"`
	// RouterFirewall is the router's own firewall: RouterFW4, RouterFW3
	// or RouterOther (a Linux router without OpenWrt's firewall).
	RouterFirewall string `json:"router_firewall"`
	// Managed says that minipot's rules are in place (in some family),
	// whether or not they match the settings (InSync says that).
	Managed bool `json:"managed"`
	// FamilyWAN is the WAN devices per family whose connections minipot
	// redirects: empty for a family minipot leaves alone.
	FamilyWAN map[Family][]string `json:"family_wan_devices,omitempty"`
}

// Values of Status.RouterFirewall.
const (
	RouterFW4   = "fw4"
	RouterFW3   = "fw3"
	RouterOther = "other"
)

// The backends, as firewall.backend and Status.Backend name them.
const (
	BackendAuto           = "auto"
	BackendNFTables       = "nftables"
	BackendIPTablesNFT    = "iptables-nft"
	BackendIPTablesLegacy = "iptables-legacy"
)

// FamilyStatus is the installed state of one family.
type FamilyStatus struct {
	Family     Family            `json:"family"`
	Installed  bool              `json:"installed"` // both chains and both jumps present
	Hooks      []string          `json:"hooks"`     // minipot's jumps found in built-in chains
	Redirected map[string]uint64 `json:"redirected"`
	Refused    uint64            `json:"refused_direct"` // direct WAN connections to fake ports
}

// Decision says, for one service and family, where connections from the
// WAN go and why.
type Decision struct {
	Service  string      `json:"service"`
	Family   Family      `json:"family"`
	Port     int         `json:"port"`
	FakePort int         `json:"fake_port"`
	Redirect string      `json:"redirect"` // RedirectAll, RedirectSome or RedirectNone
	Reason   string      `json:"reason"`
	Except   []Exception `json:"except,omitempty"` // with RedirectSome: what goes to the real service
	// Cause is Reason as a code, for programs (the pages, ubus): one of
	// the Cause constants.
	Cause string `json:"cause"`
}

// Values of Decision.Cause.
const (
	CauseSwitchedOff    = "switched-off"    // fakes.enabled is 0
	CauseDisabled       = "disabled"        // the service is in fakes.disable
	CauseNothingListens = "nothing-listens" // redirected: no real service on the port
	CauseNotAccepted    = "not-accepted"    // redirected: a real service listens, but the firewall rejects it from the WAN
	CauseRealService    = "real-service"    // not redirected: an accepted real service takes the connections
	CauseRealSome       = "real-service-some"
	CauseForwarded      = "forwarded"     // not redirected: the router forwards the port elsewhere
	CauseNoWAN          = "no-wan-device" // not redirected: no WAN device known
)

// Values of Decision.Redirect.
const (
	RedirectAll  = "all"
	RedirectSome = "some"
	RedirectNone = "none"
)

// Exception is a source/destination pair whose connections a real service
// takes; an empty field means any address.
type Exception struct {
	Src string `json:"src,omitempty"`
	Dst string `json:"dst,omitempty"`
}

func (e Exception) String() string {
	s, d := e.Src, e.Dst
	if s == "" {
		s = "any"
	}
	if d == "" {
		d = "any"
	}
	return "from " + s + " to " + d
}

// OpKind is one kind of iptables change.
type OpKind string

// The operations diff produces. Positions are iptables rule numbers (from 1).
const (
	OpNewChain    OpKind = "new-chain"
	OpDeleteChain OpKind = "delete-chain"
	OpFlushChain  OpKind = "flush-chain"
	OpInsert      OpKind = "insert"
	OpAppend      OpKind = "append"
	OpDelete      OpKind = "delete"
)

// The operations of the nftables backend, and of the fw4 include file.
const (
	OpReplaceTable OpKind = "replace-table"
	OpDeleteTable  OpKind = "delete-table"
	OpWriteFile    OpKind = "write-file"
	OpRemoveFile   OpKind = "remove-file"
)

// Op is one change: an iptables command, or a part of an nft transaction
// (Cmd says which).
type Op struct {
	Family Family `json:"family"`
	Kind   OpKind `json:"op"`
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	Pos    int    `json:"pos,omitempty"`
	Rule   string `json:"rule,omitempty"`
	// Cmd is the change as nft (or the file system) makes it; "" for
	// iptables ops, which String writes from the other fields.
	Cmd string `json:"cmd,omitempty"`
	// Flushed holds the rules a flush removes, so that it can be undone.
	Flushed []string `json:"-"`
}

// String writes the op as the iptables command that performs it.
func (o Op) String() string {
	if o.Cmd != "" {
		return o.Cmd
	}
	cmd := fmt.Sprintf("%s -t %s", o.Family.command(), o.Table)
	switch o.Kind {
	case OpNewChain:
		return cmd + " -N " + o.Chain
	case OpDeleteChain:
		return cmd + " -X " + o.Chain
	case OpFlushChain:
		return cmd + " -F " + o.Chain
	case OpInsert:
		return fmt.Sprintf("%s -I %s %d %s", cmd, o.Chain, o.Pos, o.Rule)
	case OpAppend:
		return fmt.Sprintf("%s -A %s %s", cmd, o.Chain, o.Rule)
	case OpDelete:
		if o.Rule != "" {
			return fmt.Sprintf("%s -D %s %s", cmd, o.Chain, o.Rule)
		}
		return fmt.Sprintf("%s -D %s %d", cmd, o.Chain, o.Pos)
	}
	return cmd + " ?"
}

// inverse is the op that undoes o, given that o has just been done.
func (o Op) inverse() []Op {
	u := o
	u.Flushed = nil
	switch o.Kind {
	case OpNewChain:
		u.Kind = OpDeleteChain
	case OpDeleteChain:
		u.Kind = OpNewChain
	case OpInsert, OpAppend:
		u.Kind = OpDelete
	case OpDelete:
		u.Kind = OpInsert
	case OpFlushChain:
		out := make([]Op, len(o.Flushed))
		for i, r := range o.Flushed {
			out[i] = Op{Family: o.Family, Kind: OpAppend, Table: o.Table, Chain: o.Chain, Pos: i + 1, Rule: r}
		}
		return out
	}
	return []Op{u}
}

// splitRule splits a rule as iptables -S prints it into arguments: fields
// separated by spaces, where "..." groups (with \" and \\ escapes) as
// iptables quotes a comment that holds spaces.
func splitRule(rule string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(rule); i++ {
		c := rule[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(rule):
			i++
			cur.WriteByte(rule[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
