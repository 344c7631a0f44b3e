'use strict';
'require view';
'require rpc';
'require ui';
'require dom';
'require poll';

/*
 * Data collection: the minipot settings, the state of each service and what
 * attackers did. Everything goes through the ubus object "minipot" (the
 * rpcd plugin in front of `minipot api`), never through LuCI's own uci
 * calls: the API checks, writes, converges the firewall and reloads the
 * agent in one step, and the ETag stops us overwriting a concurrent change.
 *
 * Attacker-supplied text (usernames, URLs, user agents, commands) reaches
 * the page only through text nodes: LuCI's E() and dom.append() assign a
 * bare string child to innerHTML, so every such value is wrapped in txt().
 */

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

const callEvents = rpc.declare({
	object: 'minipot',
	method: 'events',
	params: [ 'since', 'limit' ],
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

/* An explicit end: without one the API leaves the hourly series empty
 * until the store exists. */
const WINDOW = '24h';
const TOP = 10;
const LATEST = 20;

/* A text node: the only way attacker data enters the DOM. */
function txt(s) {
	return document.createTextNode((s == null) ? '' : String(s));
}

/* The technical why of a state, one line per family, or one line when
 * every family has the same. */
function familyDetails(state) {
	const fams = state.families || [];
	const with_ = fams.filter(function(f) { return f.detail; });

	if (with_.length && with_.length == fams.length && with_.every(function(f) { return f.detail == with_[0].detail; }))
		return [ with_[0].detail ];

	return with_.map(function(f) { return f.family + ': ' + f.detail; });
}

/* A ubus call that failed comes back as a number (the ubus status: no
 * `expect` above, which would swap it for a default value) or as an object
 * carrying the API's error; either becomes a rejected promise. */
function check(res) {
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
}

function notifyError(err) {
	ui.addNotification(null, E('p', {}, [ txt(err.message || err) ]), 'error');
}

function pad(n) {
	return (n < 10 ? '0' : '') + n;
}

/* Local time, minute precision for the chart, seconds for events. */
function fmtTime(iso, seconds) {
	const d = new Date(iso);

	if (isNaN(d.getTime()))
		return String(iso);

	let s = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) +
		' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());

	return seconds ? s + ':' + pad(d.getSeconds()) : s;
}

/* An SVG element: E() makes HTML elements, which an <svg> ignores. */
function S(tag, attrs, children) {
	const el = document.createElementNS('http://www.w3.org/2000/svg', tag);

	for (let k in attrs)
		el.setAttribute(k, attrs[k]);

	(children || []).forEach(function(c) {
		el.appendChild((typeof(c) == 'object') ? c : txt(c));
	});

	return el;
}

function table(cls, heads, rows, empty) {
	const t = E('table', { 'class': 'table ' + cls }, [
		E('tr', { 'class': 'tr table-titles' }, heads.map(function(h) {
			return E('th', { 'class': 'th' }, [ h ]);
		}))
	]);

	if (!rows.length)
		t.appendChild(E('tr', { 'class': 'tr placeholder' }, [
			E('td', { 'class': 'td', 'colspan': String(heads.length) }, [ E('em', {}, [ empty ]) ])
		]));

	rows.forEach(function(r) {
		t.appendChild(E('tr', { 'class': 'tr' }, r.map(function(c) {
			return E('td', { 'class': 'td' }, [ (typeof(c) == 'object') ? c : txt(c) ]);
		})));
	});

	return t;
}

return view.extend({
	etag: null,
	nodes: null,
	settings: null,
	services: [],
	/* A session whose ACL grants only the read methods sees the page but
	 * gets no control it could not use. */
	readonly: false,

	load() {
		return Promise.all([
			/* Without the settings there is no page, only the reason. */
			callGetSettings().then(check).catch(function(err) { return { error: err.message || String(err) }; }),
			L.resolveDefault(callStatus().then(check), null),
			L.resolveDefault(callStats(WINDOW, 'now', TOP).then(check), null),
			L.resolveDefault(callEvents(WINDOW, LATEST).then(check), null),
			L.resolveDefault(callVersion().then(check), null)
		]);
	},

	/* --- the state of each service --- */

	/* The services as the API lists them (order, labels, ports: the
	 * service table lives once, in Go); without a status, the settings'
	 * services by port. */
	serviceList(settings, st) {
		if (st && Array.isArray(st.services) && st.services.length)
			return st.services.map(function(s) { return { key: s.key, label: s.label, port: s.port, description: s.description }; });

		const svcs = (settings && settings.services) || {};

		return Object.keys(svcs).map(function(k) {
			return { key: k, label: svcs[k].label || k, port: svcs[k].port };
		}).sort(function(a, b) { return a.port - b.port; });
	},

	serviceName(key) {
		const s = (this.services || []).filter(function(s) { return s.key == key; })[0];

		return s ? s.label : key;
	},

	renderStatus(st) {
		/* A service new to the list gets its row first. */
		const list = this.serviceList(this.settings, st);

		if (list.map(function(s) { return s.key; }).join(' ') != this.services.map(function(s) { return s.key; }).join(' '))
			this.renderServiceRows(list);

		/* The state as the API computed it, shown as given: the code for
		 * machines (data-state), the sentence for the owner, and the
		 * technical why per address family. */
		this.services.forEach(L.bind(function(s) {
			const cell = this.nodes.status[s.key];
			const svc = ((st && st.services) || []).filter(function(x) { return x.key == s.key; })[0];
			const state = svc && svc.state;

			if (!state) {
				cell.setAttribute('data-state', 'unknown');
				dom.content(cell, E('em', {}, [ _('Unknown') ]));
				return;
			}

			const details = familyDetails(state).map(function(d) {
				return E('div', { 'class': 'cbi-value-description' }, [ txt(d) ]);
			});

			cell.setAttribute('data-state', state.code);
			cell.setAttribute('data-reason', state.reason);
			dom.content(cell, [ E('strong', {}, [ txt(state.text) ]) ].concat(details));
		}, this));

		const note = this.nodes.note;
		let msgs = [];

		if (st && st.agent && !st.agent.running)
			msgs.push(E('p', {}, [ _('The minipot agent is not running.'), ' ', txt(st.agent.note) ]));
		else if (st && st.agent && !st.agent.in_sync)
			msgs.push(E('p', {}, [
				_('The agent does not run with the settings file as it is now.'), ' ',
				E('button', {
					'class': 'btn cbi-button cbi-button-apply',
					'id': 'minipot-apply',
					'disabled': this.readonly ? '' : null,
					'click': ui.createHandlerFn(this, 'handleApplyFile')
				}, [ _('Apply the settings file') ])
			]));

		/* The agent serves on without a store it may not use (another
		 * program's file at store.path): the owner must act. */
		if (st && st.store && st.store.state == 'unavailable')
			msgs.push(E('p', { 'id': 'minipot-store-problem' }, [ _('No events are being stored.'), ' ', txt(st.store.problem) ]));
		else if (st && st.store && st.store.recovered)
			msgs.push(E('p', { 'id': 'minipot-store-problem' }, [ txt(st.store.recovered) ]));

		if (st && st.settings && st.settings.valid === false)
			msgs.push(E('p', {}, [ _('The settings file has invalid options; saving here repairs them.') ]));

		dom.content(note, msgs);
		this.renderExportStatus(st);
	},

	refreshStatus() {
		return callStatus().then(check).then(L.bind(this.renderStatus, this));
	},

	/* --- settings --- */

	/* (Re)builds the services' rows, keeping the boxes' current ticks. */
	renderServiceRows(list) {
		const ticked = {}, svcs = (this.settings && this.settings.services) || {};

		document.querySelectorAll('input[data-service]').forEach(function(cb) {
			ticked[cb.getAttribute('data-service')] = cb.checked;
		});

		this.services = list;
		this.nodes.status = {};

		const rows = list.map(L.bind(function(s) {
			const on = (s.key in ticked) ? ticked[s.key] : !!(svcs[s.key] && svcs[s.key].enabled);

			this.nodes.status[s.key] = E('td', { 'class': 'td', 'id': 'minipot-status-' + s.key }, [ E('em', {}, [ _('Unknown') ]) ]);

			return E('tr', { 'class': 'tr', 'data-service-row': s.key }, [
				E('td', { 'class': 'td' }, [
					E('input', {
						'type': 'checkbox',
						'id': 'minipot-svc-' + s.key,
						'data-service': s.key,
						'checked': on ? '' : null,
						'disabled': this.readonly ? '' : null
					})
				]),
				E('td', { 'class': 'td' }, [
					E('label', { 'for': 'minipot-svc-' + s.key, 'title': s.description || null }, [ txt(s.label) ])
				]),
				E('td', { 'class': 'td' }, [ txt(String(s.port)) ]),
				this.nodes.status[s.key]
			]);
		}, this));

		dom.content(this.nodes.services, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, [ _('Enabled') ]),
				E('th', { 'class': 'th' }, [ _('Service') ]),
				E('th', { 'class': 'th' }, [ _('Port') ]),
				E('th', { 'class': 'th' }, [ _('Status') ])
			])
		].concat(rows));
	},

	renderSettings(settings, st) {
		this.nodes.note = E('div', { 'id': 'minipot-agent-note' });
		this.nodes.services = E('table', { 'class': 'table', 'id': 'minipot-services' });
		this.renderServiceRows(this.serviceList(settings, st));

		return E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, [ _('Settings') ]),
			E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'minipot-enabled' }, [ _('Enable data collection') ]),
				E('div', { 'class': 'cbi-value-field' }, [
					E('input', { 'type': 'checkbox', 'id': 'minipot-enabled', 'checked': settings.enabled ? '' : null }),
					E('div', { 'class': 'cbi-value-description' }, [
						_('The master switch: when off, no minipot listens and no firewall rule sends anything to one.')
					])
				])
			]),
			E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'minipot-log-credentials' }, [ _('Collect credentials') ]),
				E('div', { 'class': 'cbi-value-field' }, [
					E('input', { 'type': 'checkbox', 'id': 'minipot-log-credentials', 'checked': settings.log_credentials ? '' : null }),
					E('div', { 'class': 'cbi-value-description', 'id': 'minipot-privacy' }, [
						E('p', {}, [ _('Without this, only the address of the attacker, the time and what was asked for (a URL, a proxy target, a command) are kept. That is enough to recognise active attackers.') ]),
						E('p', {}, [ _('With it, the username and password of every attempt are kept too, so that attackers trying the same list of passwords can be grouped: they are most likely run by the same people.') ]),
						E('p', {}, [ _('No password opens a minipot: there is nothing behind the prompt. Still, each one is one more program reachable from the internet, and any program can have bugs.') ]),
						E('p', {}, [ _('If you mistake a minipot for your real service and type a real password while this is on, that password gets stored. Remove it with the button below. These protocols send passwords unencrypted, so such a password was exposed on the way anyway.') ])
					])
				])
			]),
			E('h4', {}, [ _('Services') ]),
			E('p', {}, [ _('A minipot only takes connections that the router would refuse otherwise: if you run a real service on the port, or forward it to another computer, the connection goes there.') ]),
			this.nodes.services,
			this.nodes.note,
			E('div', { 'class': 'cbi-page-actions' }, [
				E('button', {
					'class': 'btn cbi-button cbi-button-save',
					'id': 'minipot-save',
					'click': ui.createHandlerFn(this, 'handleSaveSettings')
				}, [ _('Save and apply') ])
			])
		]);
	},

	/* Reads the switches into a patch for set_settings. */
	formSettings() {
		const services = {};

		document.querySelectorAll('input[data-service]').forEach(function(cb) {
			services[cb.getAttribute('data-service')] = { enabled: cb.checked };
		});

		return {
			enabled: document.getElementById('minipot-enabled').checked,
			log_credentials: document.getElementById('minipot-log-credentials').checked,
			services: services
		};
	},

	handleSaveSettings(ev) {
		return callSetSettings(this.formSettings(), this.etag).then(check).then(L.bind(function(res) {
			if (res.etag)
				this.etag = res.etag;

			ui.addNotification(null, E('p', {}, [
				res.changed ? _('The settings are saved and in effect.') : _('Nothing changed.')
			]), 'info');

			return Promise.all([ this.refreshStatus(), this.refreshAttacks() ]);
		}, this)).catch(notifyError);
	},

	handleApplyFile(ev) {
		return callApply().then(check).then(L.bind(this.refreshStatus, this)).catch(notifyError);
	},

	/* --- export (issue 13): the fleet exporter's switch and state --- */

	renderExport(settings) {
		const x = settings.export || {};

		this.nodes.exportState = E('table', { 'class': 'table', 'id': 'minipot-export-state' }, []);

		return E('div', { 'class': 'cbi-section', 'id': 'minipot-export' }, [
			E('h3', {}, [ _('Fleet export') ]),
			E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'minipot-export-enabled' }, [ _('Send events to a collector') ]),
				E('div', { 'class': 'cbi-value-field' }, [
					E('input', { 'type': 'checkbox', 'id': 'minipot-export-enabled', 'checked': x.enabled ? '' : null }),
					E('div', { 'class': 'cbi-value-description' }, [
						_('Publishes every stored event over TLS to the MQTT broker %s. Events wait in the store while the collector cannot be reached. The broker, certificates and password file are set in section export of /etc/config/ucollect.').format(x.broker || _('(none set)'))
					])
				])
			]),
			E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'minipot-export-credentials' }, [ _('Send credentials too') ]),
				E('div', { 'class': 'cbi-value-field' }, [
					E('input', { 'type': 'checkbox', 'id': 'minipot-export-credentials', 'checked': x.credentials ? '' : null }),
					E('div', { 'class': 'cbi-value-description' }, [
						_('Usernames and passwords leave the router only when credentials are collected and this is on.')
					])
				])
			]),
			this.nodes.exportState,
			E('div', { 'class': 'cbi-page-actions' }, [
				E('button', {
					'class': 'btn cbi-button cbi-button-save',
					'id': 'minipot-export-save',
					'click': ui.createHandlerFn(this, 'handleSaveExport')
				}, [ _('Save and apply') ])
			])
		]);
	},

	renderExportStatus(st) {
		const x = (st && st.export) || {}, m = x.mqtt;
		let conn = _('Export is off');

		if (!this.nodes.exportState)
			return;
		if (x.enabled)
			conn = !x.running ? _('No: the exporter is not running') : (m && m.connected ? _('Yes') : _('No'));

		const rows = [
			[ _('Sensor'), x.sensor || '–' ],
			[ _('Connected'), conn ],
			[ _('Last successful export'), m && m.last_export ? fmtTime(m.last_export, true) : _('Never') ],
			[ _('Events waiting'), m ? String(m.waiting) : '–' ],
			[ _('Events lost to retention'), m ? String(m.lost) : '–' ],
			[ _('Last error'), (m && m.last_error) || x.error || x.note || _('None') ]
		];

		dom.content(this.nodes.exportState, rows.map(function(r, i) {
			return E('tr', { 'class': 'tr', 'data-row': String(i) }, [
				E('td', { 'class': 'td left', 'width': '33%' }, [ r[0] ]),
				E('td', { 'class': 'td left' }, [ txt(r[1]) ])
			]);
		}));
	},

	handleSaveExport(ev) {
		const patch = { export: {
			enabled: document.getElementById('minipot-export-enabled').checked,
			credentials: document.getElementById('minipot-export-credentials').checked
		} };

		return callSetSettings(patch, this.etag).then(check).then(L.bind(function(res) {
			if (res.etag)
				this.etag = res.etag;
			ui.addNotification(null, E('p', {}, [
				res.changed ? _('The export settings are saved.') : _('Nothing changed.')
			]), 'info');
			return this.refreshStatus();
		}, this)).catch(notifyError);
	},

	/* --- end export --- */

	/* --- attacks --- */

	/* A bar per hour of the window; the height is the attempts (logins
	 * and requests), the tooltip says the hour, attempts and connections. */
	renderChart(hourly) {
		const W = 720, H = 160, top = 10, bottom = 20, left = 36;
		const n = Math.max(hourly.length, 1);
		const bw = (W - left) / n;
		const max = Math.max.apply(null, [ 1 ].concat(hourly.map(function(h) { return h.attempts; })));
		const scale = (H - top - bottom) / max;

		const bars = hourly.map(function(h, i) {
			const bh = h.attempts * scale;
			const d = new Date(h.time);

			return S('g', { 'class': 'minipot-hour', 'data-attempts': String(h.attempts) }, [
				S('title', {}, [ _('%s: %d attempts, %d connections').format(fmtTime(h.time), h.attempts, h.connections) ]),
				S('rect', {
					x: (left + i * bw + 1).toFixed(1), y: (H - bottom - bh).toFixed(1),
					width: Math.max(bw - 2, 1).toFixed(1), height: bh.toFixed(1),
					fill: 'currentColor', 'fill-opacity': '0.7'
				}),
				(d.getHours() % 6 == 0) ? S('text', {
					x: (left + i * bw).toFixed(1), y: String(H - 5), 'font-size': '10', fill: 'currentColor'
				}, [ pad(d.getHours()) + ':00' ]) : S('g', {})
			]);
		});

		return S('svg', {
			'id': 'minipot-chart', 'viewBox': '0 0 ' + W + ' ' + H, 'width': '100%',
			'role': 'img', 'aria-label': _('Attempts per hour'), 'style': 'max-width:' + W + 'px'
		}, [
			S('line', { x1: String(left), y1: String(H - bottom), x2: String(W), y2: String(H - bottom), stroke: 'currentColor' }),
			S('text', { x: '0', y: String(top + 8), 'font-size': '10', fill: 'currentColor' }, [ String(max) ]),
			S('text', { x: '0', y: String(H - bottom), 'font-size': '10', fill: 'currentColor' }, [ '0' ])
		].concat(bars));
	},

	eventDetail(e) {
		if (e.username != null || e.password != null)
			return '%s / %s'.format(e.username || '', e.password || '');

		if (e.url)
			return [ e.method, e.url ].filter(Boolean).join(' ') + (e.user_agent ? ' (' + e.user_agent + ')' : '') +
				(e.count > 1 ? ' ' + _('(repeated %d times)').format(e.count) : '');

		if (e.detail)
			return e.detail;

		if (e.action == 'disconnect')
			return _('%s after %d ms').format(e.reason || '', e.duration_ms || 0);

		return '';
	},

	renderAttacks(stats, events) {
		const root = this.nodes.attacks;

		if (!stats) {
			dom.content(root, E('p', {}, [ E('em', {}, [ _('No statistics available.') ]) ]));
			return;
		}

		const t = stats.top || {};
		const sources = (t.sources || []).map(function(s) { return [ s.value, String(s.count) ]; });
		const pairs = (t.pairs || []).map(function(p) { return [ p.username, p.password, String(p.count) ]; });
		const evs = ((events && events.events) || []).map(L.bind(function(e) {
			return [ fmtTime(e.time, true), this.serviceName(e.service), e.src_ip, e.action, this.eventDetail(e) ];
		}, this));

		dom.content(root, [
			E('h4', {}, [ _('Attempts per hour') ]),
			E('p', {}, [ _('%d events in the last 24 hours.').format(stats.events || 0) ]),
			this.renderChart(stats.hourly || []),

			E('h4', {}, [ _('Top attacking addresses') ]),
			table('minipot-top-sources', [ _('Address'), _('Connections') ], sources, _('No attacks yet.')),

			E('h4', {}, [ _('Top credentials') ]),
			stats.credentials_collected
				? table('minipot-top-credentials', [ _('Username'), _('Password'), _('Attempts') ], pairs, _('No credentials yet.'))
				: E('p', { 'id': 'minipot-no-credentials' }, [ E('em', {}, [ _('Credentials are not collected.') ]) ]),

			E('h4', {}, [ _('Latest events') ]),
			table('minipot-latest', [ _('Time'), _('Service'), _('Source'), _('Action'), _('Details') ], evs, _('No events yet.'))
		]);
	},

	refreshAttacks() {
		return Promise.all([
			callStats(WINDOW, 'now', TOP).then(check),
			callEvents(WINDOW, LATEST).then(check)
		]).then(L.bind(function(r) {
			this.renderAttacks(r[0], r[1]);
		}, this)).catch(notifyError);
	},

	/* --- purge --- */

	handlePurge(scope, ev) {
		const question = (scope == 'all')
			? _('Delete every stored event? The statistics are cleared too. This cannot be undone.')
			: _('Blank every stored username and password? The events themselves are kept. This cannot be undone.');

		ui.showModal(_('Purge stored data'), [
			E('p', {}, [ question ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'id': 'minipot-purge-cancel', 'click': ui.hideModal }, [ _('Cancel') ]),
				' ',
				E('button', {
					'class': 'btn cbi-button-negative',
					'id': 'minipot-purge-confirm',
					'click': ui.createHandlerFn(this, function() {
						return callPurge(scope).then(check).then(L.bind(function() {
							ui.hideModal();
							ui.addNotification(null, E('p', {}, [
								(scope == 'all') ? _('All events are deleted.') : _('Stored credentials are deleted.')
							]), 'info');
							return this.refreshAttacks();
						}, this)).catch(function(err) {
							ui.hideModal();
							notifyError(err);
						});
					})
				}, [ _('Purge') ])
			])
		]);
	},

	render(data) {
		const settings = data[0], st = data[1], stats = data[2], events = data[3], version = data[4];

		if (settings.error != null)
			return E('div', {}, [
				E('h2', {}, [ _('Data collection') ]),
				E('div', { 'class': 'alert-message warning', 'id': 'minipot-unavailable' }, [
					E('p', {}, [ _('The minipot service cannot be reached. Is the minipot package installed and its API running?') ]),
					E('pre', {}, [ txt(settings.error) ])
				])
			]);

		this.etag = settings.etag || null;
		this.readonly = !L.hasViewPermission();
		this.settings = settings;
		this.services = [];
		this.nodes = { status: {}, services: null, note: null, attacks: E('div', { 'id': 'minipot-attacks' }) };

		const node = E('div', {}, [
			E('h2', {}, [ _('Data collection') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('Minipots are fake Telnet, HTTP and proxy services that catch attackers scanning the router from the internet. They answer every login with a wrong password and record who tried what.')
			]),
			this.renderSettings(settings, st),
			this.renderExport(settings),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Attacks in the last 24 hours') ]),
				this.nodes.attacks,
				E('div', { 'class': 'cbi-page-actions' }, [
					E('button', {
						'class': 'btn cbi-button cbi-button-negative',
						'id': 'minipot-purge-credentials',
						'click': ui.createHandlerFn(this, 'handlePurge', 'credentials')
					}, [ _('Delete stored credentials') ]),
					' ',
					E('button', {
						'class': 'btn cbi-button cbi-button-negative',
						'id': 'minipot-purge-all',
						'click': ui.createHandlerFn(this, 'handlePurge', 'all')
					}, [ _('Delete all events') ])
				])
			]),
			E('p', { 'class': 'cbi-value-description', 'id': 'minipot-version' }, [
				version ? txt('minipot ' + version.version) : ''
			])
		]);

		this.renderStatus(st);
		this.renderAttacks(stats, events);

		poll.add(L.bind(function() {
			return Promise.all([ this.refreshStatus(), this.refreshAttacks() ]);
		}, this), 30);

		if (this.readonly)
			node.querySelectorAll('input, button').forEach(function(el) { el.disabled = true; });

		return node;
	},

	/* Saving goes through set_settings above, which applies at once;
	 * LuCI's staged Save/Apply/Reset footer does not fit. */
	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
