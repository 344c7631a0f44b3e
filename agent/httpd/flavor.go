package httpd

import "strconv"

// flavor is the software a handler passes for.
type flavor uint8

const (
	flNginx  flavor = iota // web server with auth_basic (80tcp)
	flSquid                // Squid forward proxy with basic auth (3128tcp, 8080tcp)
	flPolipo               // Polipo with authCredentials (8123tcp)
)

// builder lays out pieces, merging adjacent text.
type builder []piece

func (b *builder) lit(s string) *builder {
	if n := len(*b); n > 0 && (*b)[n-1].slot == sLit {
		(*b)[n-1].text += s
	} else {
		*b = append(*b, piece{sLit, s})
	}
	return b
}

func (b *builder) put(s slot) *builder {
	*b = append(*b, piece{slot: s})
	return b
}

// realm writes the realm: the configured one, else the host name.
func (b *builder) realm(realm string) *builder {
	if realm == "" {
		return b.put(sHost)
	}
	return b.lit(realm)
}

// nginxPages answer like nginx 1.22 with auth_basic: the header order of
// the reference capture (nginx-401.headers) and nginx's built-in error pages,
// with the identity in the Server field and the pages' footer.
func nginxPages(server, realm string) [numPages]*page {
	mk := func(code, reason, title string, challenge, closes bool) *page {
		var h, body builder
		h.lit("HTTP/1.1 " + code + " " + reason + "\r\nServer: " + server + "\r\nDate: ").put(sDate).
			lit("\r\nContent-Type: text/html\r\nContent-Length: ").put(sLength).
			lit("\r\nConnection: ").put(sConn).lit("\r\n")
		if challenge {
			h.lit(`WWW-Authenticate: Basic realm="`).realm(realm).lit("\"\r\n")
		}
		h.lit("\r\n")
		body.lit("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
			"</h1></center>\r\n<hr><center>" + server + "</center>\r\n</body>\r\n</html>\r\n")
		return &page{head: h, body: body, close: closes}
	}
	bad := mk("400", "Bad Request", "400 Bad Request", false, true)
	return [numPages]*page{
		pgAuth:       mk("401", "Unauthorized", "401 Authorization Required", true, false),
		pgBadRequest: bad,
		pgNotHTTP:    bad,
		pgBadURL:     bad,
		pgBadHeader:  bad,
		pgNotAllowed: mk("405", "Not Allowed", "405 Not Allowed", false, false),
		pgLineLong:   mk("414", "Request-URI Too Large", "414 Request-URI Too Large", false, true),
		// nginx itself says 400 "Request Header Or Cookie Too Large";
		// the status asked for here is RFC 6585's.
		pgHeadLarge: mk("431", "Request Header Fields Too Large", "431 Request Header Fields Too Large", false, true),
		pgVersion:   mk("505", "HTTP Version Not Supported", "505 HTTP Version Not Supported", false, true),
	}
}

// squidPages answer like Squid 5 requiring basic auth: the header set and
// order of the reference capture (squid-407.headers), and error pages laid out
// as Squid's templates are (title, ERROR banner, the URL, a quoted reason,
// footer with the date, host and version), in this project's own words and
// style sheet, about the size of the real ones (3 kB).
func squidPages(server, realm string, port int) [numPages]*page {
	p := strconv.Itoa(port)
	mk := func(code, reason, errID, title string, challenge bool, content func(*builder)) *page {
		var h, body builder
		h.lit("HTTP/1.1 " + code + " " + reason + "\r\nServer: " + server + "\r\nMime-Version: 1.0\r\nDate: ").put(sDate).
			lit("\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: ").put(sLength).
			lit("\r\nX-Squid-Error: " + errID + " 0\r\nVary: Accept-Language\r\nContent-Language: en\r\n")
		if challenge {
			h.lit(`Proxy-Authenticate: Basic realm="`).realm(realm).lit("\"\r\n")
		}
		h.lit("X-Cache: MISS from ").put(sHost).lit("\r\nX-Cache-Lookup: NONE from ").put(sHost).
			lit(":" + p + "\r\nVia: 1.1 ").put(sHost).lit(" (" + server + ")\r\nConnection: ").put(sConn).lit("\r\n\r\n")
		body.lit(`<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">` + "\n" +
			"<html><head>\n" +
			`<meta http-equiv="Content-Type" content="text/html; charset=utf-8">` + "\n" +
			"<title>ERROR: " + title + "</title>\n" +
			"<style type=\"text/css\"><!--\n" + squidStyle + "--></style>\n" +
			"</head><body id=" + errID + ">\n" +
			"<div id=\"titles\">\n<h1>ERROR</h1>\n<h2>" + title + "</h2>\n</div>\n<hr>\n\n<div id=\"content\">\n")
		content(&body)
		body.lit("<p>Your cache administrator is <a href=\"mailto:webmaster?subject=CacheErrorInfo%20-%20" + errID +
			"\">webmaster</a>.</p>\n<br>\n</div>\n\n<hr>\n<div id=\"footer\">\n<p>Generated ").put(sDate).
			lit(" by ").put(sHost).lit(" (" + server + ")</p>\n<!-- " + errID + " -->\n</div>\n</body></html>\n")
		return &page{head: h, body: body, close: !challenge}
	}
	url := func(b *builder, before string) {
		b.lit("<p>" + before + " <a href=\"").put(sURL).lit("\">").put(sURL).lit("</a></p>\n\n")
	}
	quote := func(b *builder, q, then string) {
		b.lit("<blockquote id=\"error\">\n<p><b>" + q + "</b></p>\n</blockquote>\n\n<p>" + then + "</p>\n\n")
	}
	invalid := mk("400", "Bad Request", "ERR_INVALID_REQ", "The requested URL could not be retrieved", false, func(b *builder) {
		b.lit("<p>The request could not be processed.</p>\n\n")
		quote(b, "Invalid Request", "The request is malformed: one of its lines is missing, broken or out of place, so this cache cannot tell what is asked of it.")
	})
	tooBig := func(code, reason string) *page {
		return mk(code, reason, "ERR_TOO_BIG", "The requested URL could not be retrieved", false, func(b *builder) {
			b.lit("<p>The request could not be processed.</p>\n\n")
			quote(b, "The request or reply is too large.", "The request line or its headers are larger than this cache accepts. Shorten the request and send it again.")
		})
	}
	return [numPages]*page{
		pgAuth: mk("407", "Proxy Authentication Required", "ERR_CACHE_ACCESS_DENIED", "Cache Access Denied", true, func(b *builder) {
			url(b, "An error occurred while trying to retrieve the URL:")
			b.lit("<blockquote id=\"error\">\n<p><b>Cache Access Denied.</b></p>\n</blockquote>\n\n" +
				"<p>Access to this cache is restricted. You must authenticate before this cache will fetch <q>").
				put(sURL).lit("</q> for you.</p>\n\n" +
				"<p>Your browser should ask for a user name and password; if it does not, check its proxy settings or ask the cache administrator for an account.</p>\n\n")
		}),
		pgBadRequest: invalid,
		pgBadHeader:  invalid,
		pgNotAllowed: invalid,
		pgNotHTTP: mk("400", "Bad Request", "ERR_PROTOCOL_UNKNOWN", "The requested URL could not be retrieved", false, func(b *builder) {
			b.lit("<p>The request could not be processed.</p>\n\n")
			quote(b, "Unsupported Protocol", "This cache does not speak the protocol of the request it was sent.")
		}),
		pgBadURL: mk("400", "Bad Request", "ERR_INVALID_URL", "The requested URL could not be retrieved", false, func(b *builder) {
			url(b, "An error occurred while trying to retrieve the URL:")
			quote(b, "Invalid URL", "Some part of the requested URL is wrong or missing. Check that the address is complete: a scheme, a host name and a path.")
		}),
		pgLineLong:  tooBig("414", "URI Too Long"),
		pgHeadLarge: tooBig("431", "Request Header Fields Too Large"),
		pgVersion: mk("505", "HTTP Version Not Supported", "ERR_UNSUP_HTTPVERSION", "Unsupported HTTP version", false, func(b *builder) {
			b.lit("<p>The request could not be processed.</p>\n\n")
			quote(b, "Unsupported HTTP version", "This cache does not accept the HTTP version of the request.")
		}),
	}
}

// squidStyle is the pages' style sheet: this project's own, about as long
// as the one Squid ships, so the pages weigh what Squid's do.
const squidStyle = `
/* error pages of this cache */
html, body {
	margin: 0;
	padding: 0;
	background: #f2f2f2;
	color: #222222;
	font: 12px/1.5 verdana, arial, helvetica, sans-serif;
}

/* banner: what failed */
#titles {
	margin: 0 0 0 12px;
	padding: 12px 12px 12px 96px;
	min-height: 48px;
}
#titles h1, #titles h2 {
	margin: 4px 0;
	color: #000000;
}
#titles h1 {
	font-size: 20px;
	letter-spacing: 1px;
}
#titles h2 {
	font-size: 15px;
	font-weight: normal;
}

/* why, and what to do about it */
#content {
	padding: 12px;
	background: #ffffff;
	border-top: 1px solid #dddddd;
	border-bottom: 1px solid #dddddd;
}
#content p {
	margin: 8px 0;
}
#content a {
	color: #1a4f8b;
	word-break: break-all;
}
#content q {
	font-style: italic;
	word-break: break-all;
}
blockquote#error {
	margin: 12px 24px;
	padding: 6px 12px;
	border-left: 3px solid #bb0000;
	background: #fbf3f3;
}
blockquote#error p {
	margin: 0;
}
pre, code {
	font-family: monospace;
	white-space: pre-wrap;
}

/* who answered, and when */
hr {
	margin: 0;
	border: 0;
	height: 1px;
	background: #cccccc;
}
#footer {
	padding: 4px 12px;
	font-size: 9px;
	color: #555555;
}
#footer p {
	margin: 2px 0;
}

/* right-to-left scripts */
:lang(ar), :lang(fa), :lang(he) {
	direction: rtl;
	text-align: right;
}
`

// polipoPages answer like Polipo 1.1 with authCredentials set: no Server
// field, Connection first, no-cache fields, and its short error page,
// which names the host and port and dates itself in local time (UTC on a
// router).
func polipoPages(realm string, port int) [numPages]*page {
	p := strconv.Itoa(port)
	mk := func(code, msg, challenge string, closes bool) *page {
		var h, body builder
		h.lit("HTTP/1.1 " + code + " " + msg + "\r\nConnection: ").put(sConn).lit("\r\nDate: ").put(sDate).
			lit("\r\nContent-Type: text/html\r\nContent-Length: ").put(sLength).
			lit("\r\nExpires: 0\r\nCache-Control: no-cache\r\nPragma: no-cache")
		if challenge != "" {
			h.lit("\r\n" + challenge + `: Basic realm="`).realm(realm).lit(`"`)
		}
		h.lit("\r\n\r\n")
		m := code + " " + msg
		body.lit(`<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">` +
			"\n<html><head>\n<title>Proxy error: " + m + ".</title>\n</head><body>\n<h1>" + m +
			"</h1>\n<p>The following error occurred:<br><br>\n<strong>" + m + "</strong></p>\n<hr>Generated ").
			put(sDateUTC).lit(" by Polipo on <em>").put(sHost).lit(":" + p + "</em>.\n</body></html>\r\n")
		return &page{head: h, body: body, close: closes}
	}
	line := mk("400", "Error in request line", "", true)
	long := mk("400", "Couldn't find end of headers", "", true)
	return [numPages]*page{
		pgAuth:       mk("407", "Proxy authentication required", "Proxy-Authenticate", false),
		pgLocalAuth:  mk("401", "Server authentication required", "WWW-Authenticate", false),
		pgBadRequest: line,
		pgNotHTTP:    line,
		pgBadURL:     line,
		pgNotAllowed: line,
		pgLineLong:   long,
		pgHeadLarge:  long,
		pgVersion:    mk("400", "Error in first request line", "", true),
		pgBadHeader:  mk("503", "Couldn't parse client headers", "", true),
	}
}
