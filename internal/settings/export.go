package settings

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// exportCheck is the valid function of an option of section export.
func exportCheck(option string) func(string) string {
	return func(v string) string { return checkExport(option, "export", v) }
}

// checkExport validates the string options of section export that have a
// shape of their own; it returns "" for every other option.
func checkExport(option, section, v string) string {
	if section != "export" || v == "" {
		return ""
	}
	switch option {
	case "broker":
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "mqtts" && u.Scheme != "mqtt") || u.Hostname() == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Sprintf("%q is not a broker URL: mqtts://host[:port] (credentials go in export.auth_file)", v)
		}
		if u.Scheme == "mqtt" && !isLoopback(u.Hostname()) {
			return fmt.Sprintf("%q sends events unencrypted: use mqtts:// (plain mqtt:// only to a loopback address)", v)
		}
	case "webhook_url":
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return fmt.Sprintf("%q is not a webhook URL: https://host/path", v)
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return fmt.Sprintf("%q sends alerts unencrypted: use https:// (plain http:// only to a loopback address)", v)
		}
	case "topic_prefix", "sensor_id":
		// One or more topic levels of plain characters: no wildcards, no
		// empty levels, nothing a shell or a file name would trip on.
		for _, level := range strings.Split(v, "/") {
			if level == "" {
				return fmt.Sprintf("%q has an empty topic level", v)
			}
		}
		for _, r := range v {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
			if !ok && !(r == '/' && option == "topic_prefix") {
				return fmt.Sprintf("%q may hold only letters, digits, '-', '_' and '.'", v)
			}
		}
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
