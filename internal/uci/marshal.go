package uci

import (
	"strconv"
	"strings"
)

// Marshal returns the file text libuci's `uci commit` writes for p: each
// section preceded by an empty line, every value single-quoted, comments
// and the original layout gone.
//
// One deliberate difference: libuci writes a section type unquoted, so a
// type containing ' " \ # or ; (which the parser accepts inside quotes)
// would not read back the same; such a type is written quoted here.
func (p *Package) Marshal() []byte {
	return p.export(false, false)
}

// Export returns what `uci export` prints for p: Marshal's text after a
// "package NAME" line. Anonymous sections are written without their names.
func (p *Package) Export() []byte {
	return p.export(true, false)
}

// ExportNamed is Export with the names of anonymous sections written too,
// like `uci -n export`.
func (p *Package) ExportNamed() []byte {
	return p.export(true, true)
}

func (p *Package) export(header, names bool) []byte {
	var b strings.Builder
	if header {
		b.WriteString("package ")
		b.WriteString(escape(p.Name))
		b.WriteByte('\n')
	}
	for _, s := range p.Sections {
		b.WriteString("\nconfig ")
		b.WriteString(typeText(s.Type))
		if !s.Anonymous || names {
			b.WriteString(" '")
			b.WriteString(escape(s.Name))
			b.WriteByte('\'')
		}
		b.WriteByte('\n')
		for _, o := range s.Options {
			kw, values := "\toption ", o.Values
			if o.IsList {
				kw = "\tlist "
			} else if len(values) > 1 {
				values = values[:1]
			}
			for _, v := range values {
				b.WriteString(kw)
				b.WriteString(escape(o.Name))
				b.WriteString(" '")
				b.WriteString(escape(v))
				b.WriteString("'\n")
			}
		}
	}
	b.WriteByte('\n')
	return []byte(b.String())
}

// escape prepares s for single quotes as libuci does: at each quote the
// quoted string ends, an escaped quote follows and the quoting resumes.
func escape(s string) string {
	return strings.ReplaceAll(s, "'", `'\''`)
}

// typeText writes a section type the way libuci does (bare) unless the
// parser would read the bare text differently.
func typeText(t string) string {
	if strings.ContainsAny(t, "'\"\\#;") {
		return "'" + escape(t) + "'"
	}
	return t
}

// Quote single-quotes v the way `uci show` prints values.
func Quote(v string) string {
	return "'" + escape(v) + "'"
}

// ShowOptions changes the output of ShowWith.
type ShowOptions struct {
	// RealNames names anonymous sections by their cfgXXYYYY names instead
	// of "@type[index]" (`uci -X show`).
	RealNames bool
	// Delimiter separates list items, as given (`uci -d`); Show uses a
	// space.
	Delimiter string
}

// Show returns what `uci show PKG` prints for p.
func (p *Package) Show() []byte {
	return p.ShowWith(ShowOptions{Delimiter: " "})
}

// ShowWith is Show with options.
func (p *Package) ShowWith(opt ShowOptions) []byte {
	var b strings.Builder
	counts := map[string]int{}
	for _, s := range p.Sections {
		ref := s.Name
		if !opt.RealNames {
			// Every section counts towards its type's index, named or not,
			// so "@type[i]" designates the same section when looked up.
			i := counts[s.Type]
			counts[s.Type]++
			if s.Anonymous {
				ref = "@" + s.Type + "[" + strconv.Itoa(i) + "]"
			}
		}
		b.WriteString(ShowSection(p.Name, ref, s, opt.Delimiter))
	}
	return []byte(b.String())
}

// ShowSection returns the lines `uci show` prints for section s of
// package pkg, calling the section ref.
func ShowSection(pkg, ref string, s *Section, delim string) string {
	var b strings.Builder
	b.WriteString(pkg + "." + ref + "=" + s.Type + "\n")
	for _, o := range s.Options {
		b.WriteString(ShowOption(pkg, ref, o, delim))
	}
	return b.String()
}

// ShowOption returns the line `uci show` prints for option o.
func ShowOption(pkg, ref string, o *Option, delim string) string {
	return pkg + "." + ref + "." + o.Name + "=" + FormatValue(o, true, delim) + "\n"
}

// FormatValue formats an option's value as `uci show` (quote true) or
// `uci get` (quote false) does: with quote false a plain value is bare and
// list items are bare unless they hold whitespace. delim separates list
// items.
func FormatValue(o *Option, quote bool, delim string) string {
	if !o.IsList {
		v := ""
		if len(o.Values) > 0 {
			v = o.Values[0]
		}
		if quote {
			return Quote(v)
		}
		return v
	}
	var b strings.Builder
	for i, v := range o.Values {
		if i > 0 {
			b.WriteString(delim)
		}
		if quote || strings.ContainsAny(v, " \t\r\n") {
			b.WriteString(Quote(v))
		} else {
			b.WriteString(v)
		}
	}
	return b.String()
}
