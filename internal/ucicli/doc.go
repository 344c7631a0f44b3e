// Package ucicli is a command line compatible with OpenWrt's `uci`: the
// same options, commands, output, error texts and exit codes, and the same
// files: config files in the config directory (-c, /etc/config) and
// pending changes in libuci's delta format in the save directory (-t,
// /tmp/.uci), so that this tool and the real `uci` can share both.
//
// Commands: show, export, get, set, add_list, del_list, delete (del), add,
// rename (ren), reorder, commit, changes, revert, batch and help. Options:
// -c -t -p -P -q -X -d -n -N -s -S -f.
//
// Like libuci, set and the other editing commands only record a pending
// change; show, get, export and changes see pending changes; commit writes
// the file, atomically and under the same lock libuci takes.
//
// Deliberate differences from libuci:
//   - import is not offered (it prints the usage, like an unknown command);
//     -m is accepted and ignored.
//   - Configs are named, never given as paths ("uci show /tmp/x").
//   - Names that would make pending changes unreadable (with ' " \ # ;)
//     are not found, and neither is /var/run/uci (libuci's override
//     directory) consulted.
//   - A retyped anonymous section stays anonymous (libuci names it when
//     the new type's length differs), `set` of a section through an
//     "@type[i]" that matches nothing, `add` with an invalid type and
//     rename to an invalid name fail with "Invalid argument" (libuci
//     records a change it later cannot apply).
//   - Replaying a pending "set to empty" does not record a second removal
//     (libuci does, and can delete a later value on commit).
//   - Commit empties the delta file after the new config file is in place,
//     not before.
package ucicli
