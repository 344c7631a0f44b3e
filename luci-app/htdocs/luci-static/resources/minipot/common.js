'use strict';
'require baseclass';
'require rpc';
'require ui';

/*
 * What both minipot views share: the ubus object "minipot" (the rpcd
 * plugin in front of `minipot api`), its replies turned into values or
 * errors, notifications, and the one time format of the pages.
 *
 * Attacker-supplied text (usernames, URLs, user agents, commands) reaches
 * the page only through text nodes: LuCI's E() and dom.append() assign a
 * bare string child to innerHTML, so every such value is wrapped in txt().
 */

/* Attacker text with a NUL byte, which a ubus string (a C string) cannot
 * carry, comes as {"base64": "..."} (docs/openwrt.md, ubus): turned back
 * into the text the API stores, it shows as on the API's own page. */
function decodeBytes(v) {
	if (Array.isArray(v))
		return v.map(decodeBytes);
	if (v == null || typeof(v) != 'object')
		return v;
	const keys = Object.keys(v);
	if (keys.length == 1 && keys[0] == 'base64' && typeof(v.base64) == 'string') {
		const bin = atob(v.base64), bytes = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++)
			bytes[i] = bin.charCodeAt(i);
		return new TextDecoder().decode(bytes);
	}
	const out = {};
	keys.forEach(function(k) { out[k] = decodeBytes(v[k]); });
	return out;
}

const callGetSettings = rpc.declare({
	object: 'minipot',
	method: 'get_settings'
});

const callSetSettings = rpc.declare({
	object: 'minipot',
	method: 'set_settings',
	params: [ 'settings', 'etag' ]
});

const callApply = rpc.declare({
	object: 'minipot',
	method: 'apply'
});

const callStatus = rpc.declare({
	object: 'minipot',
	method: 'status'
});

const callEvents = rpc.declare({
	object: 'minipot',
	method: 'events',
	params: [ 'service', 'src_ip', 'action', 'since', 'until', 'cursor', 'limit' ],
	filter: decodeBytes
});

const callStats = rpc.declare({
	object: 'minipot',
	method: 'stats',
	params: [ 'since', 'until', 'top' ],
	filter: decodeBytes
});

const callPurge = rpc.declare({
	object: 'minipot',
	method: 'purge',
	params: [ 'scope' ]
});

const callVersion = rpc.declare({
	object: 'minipot',
	method: 'version'
});

/* How long a confirmation stays (ms); errors stay until dismissed, and a
 * new one replaces the last. */
const NOTE_MS = 6000;

/* One formatter for every time on the pages, in the owner's locale. */
const timeFormat = new Intl.DateTimeFormat(undefined, {
	year: 'numeric', month: '2-digit', day: '2-digit',
	hour: '2-digit', minute: '2-digit', second: '2-digit'
});
const dayFormat = new Intl.DateTimeFormat(undefined, { month: '2-digit', day: '2-digit' });
const hourFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

return baseclass.extend({
	callGetSettings: callGetSettings,
	callSetSettings: callSetSettings,
	callApply: callApply,
	callStatus: callStatus,
	callEvents: callEvents,
	callStats: callStats,
	callPurge: callPurge,
	callVersion: callVersion,

	/* A text node: the only way attacker data enters the DOM. */
	txt(s) {
		return document.createTextNode((s == null) ? '' : String(s));
	},

	/* A ubus call that failed comes back as a number (the ubus status: no
	 * `expect`, which would swap it for a default value) or as an object
	 * carrying the API's error; either becomes a rejected promise. */
	check(res) {
		if (typeof(res) == 'number')
			throw new Error(_('The minipot service did not answer (%s).').format(rpc.getStatusText(res)));

		if (res == null || typeof(res) != 'object')
			throw new Error(_('The minipot service gave no answer.'));

		if (typeof(res.error) == 'string') {
			let msg = res.error;

			if (Array.isArray(res.fields))
				msg += res.fields.map(function(f) { return ' ' + f.field + ': ' + f.message; }).join(';');

			/* The ETag no longer matches: someone else changed the file. */
			if (res.http_status == 412)
				msg = _('The settings were changed elsewhere meanwhile: reload the page to see them, then save again.') + ' (' + msg + ')';

			throw new Error(msg);
		}

		return res;
	},

	/* The owner's sentence for an error; uhttpd answers a call the
	 * session's ACL refuses with JSON-RPC error -32002. */
	errorText(err) {
		const msg = (err && err.message) || String(err);

		if (/error -32002\b/.test(msg) || /Permission denied/.test(msg))
			return _('Your login may look at minipot but not change it: ask for write access to "luci-app-minipot".') + ' (' + msg + ')';

		return msg;
	},

	notify(msg) {
		ui.addTimeLimitedNotification(null, E('p', {}, [ this.txt(msg) ]), NOTE_MS, 'info');
	},

	notifyError(err) {
		document.querySelectorAll('.alert-message.minipot-error').forEach(function(n) { n.remove(); });
		ui.addNotification(null, E('p', {}, [ this.txt(this.errorText(err)) ]), 'error', 'minipot-error');
	},

	fmtTime(iso) {
		const d = new Date(iso);
		return isNaN(d.getTime()) ? String(iso) : timeFormat.format(d);
	},

	fmtDay(d) { return dayFormat.format(d); },
	fmtHour(d) { return hourFormat.format(d); },

	/* The services as the API lists them (order, labels, ports: the
	 * service table lives once, in Go); without a status, the settings'
	 * services by port. */
	serviceList(st, settings) {
		if (st && Array.isArray(st.services) && st.services.length)
			return st.services.map(function(s) { return { key: s.key, label: s.label, port: s.port, description: s.description, state: s.state }; });

		const svcs = (settings && settings.services) || {};

		return Object.keys(svcs).map(function(k) {
			return { key: k, label: svcs[k].label || k, port: svcs[k].port };
		}).sort(function(a, b) { return a.port - b.port; });
	}
});
