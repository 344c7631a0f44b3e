'use strict';
'require view';
'require ui';
'require dom';
'require poll';
'require minipot.common as common';

/*
 * Services → Data collection → Reports: what attackers did. A chart of the
 * attempts over 24 hours, 7 or 30 days with one series per service, the
 * busiest services, addresses and credentials, the events page by page
 * (filtered by service, action and address, exported as CSV or JSON as
 * shown), the store's size and bound, and the purges.
 *
 * Nothing here is a setting, so the view has no Save/Apply footer; the
 * purges ask for confirmation in a dialog and act at once.
 */

/* The ranges of the chart: the API's "since", and the width of a bar. */
const RANGES = [
	{ key: '24h', hours: 24, bucket: 1 },
	{ key: '7d', hours: 168, bucket: 6 },
	{ key: '30d', hours: 720, bucket: 24 }
];
const TOP = 10;
const PAGE = 50;

/* Series colours, in the order of the API's service list. */
const COLOURS = [ '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf' ];

/* An SVG element: E() makes HTML elements, which an <svg> ignores. */
function S(tag, attrs, children) {
	const el = document.createElementNS('http://www.w3.org/2000/svg', tag);

	for (const k in attrs)
		if (attrs[k] != null)
			el.setAttribute(k, attrs[k]);

	(children || []).forEach(function(c) {
		el.appendChild((typeof(c) == 'object') ? c : common.txt(c));
	});

	return el;
}

/* A CSV cell: quoted; text a spreadsheet would run as a formula gets a
 * leading apostrophe (attackers choose these texts). */
function csvCell(v) {
	let s = (v == null) ? '' : String(v);

	if (/^[=+\-@\t\r]/.test(s))
		s = "'" + s;

	return '"' + s.replace(/"/g, '""') + '"';
}

const CSV_FIELDS = [ 'id', 'time', 'service', 'port', 'src_ip', 'src_port', 'conn_id', 'action', 'method', 'url', 'host',
	'user_agent', 'username', 'password', 'body', 'detail', 'count', 'duration_ms', 'bytes_in', 'bytes_out', 'reason' ];

return view.extend({
	range: RANGES[0],
	/* The events shown: the filter, the cursor of this page, and the
	 * cursors of the pages before it (for "Newer"). */
	filter: null,
	cursor: null,
	back: null,
	services: null,
	nodes: null,

	load() {
		return Promise.all([
			L.resolveDefault(common.callStatus().then(L.bind(common.check, common)), null),
			this.fetchStats().catch(function(err) { return { error: common.errorText(err) }; })
		]);
	},

	/* The answer carries the range it is for: a poll's answer for the
	 * previous range may come after the owner chose another. */
	fetchStats() {
		const range = this.range;

		return common.callStats(range.key, 'now', TOP).then(L.bind(common.check, common)).then(function(stats) {
			stats.range = range;
			return stats;
		});
	},

	serviceName(key) {
		const s = (this.services || []).filter(function(s) { return s.key == key; })[0];

		return s ? s.label : key;
	},

	/* --- the chart --- */

	/* Buckets of range.bucket hours from the start of the window, each
	 * with the attempts per service. */
	buckets(stats) {
		const r = stats.range || this.range, n = r.hours / r.bucket;
		const until = stats.until ? new Date(stats.until).getTime() : Date.now();
		const start = until - r.hours * 3600e3;
		const out = [];

		for (let i = 0; i < n; i++)
			out.push({ time: new Date(start + i * r.bucket * 3600e3), attempts: 0, connections: 0, services: {} });

		(stats.hourly || []).forEach(function(h) {
			const i = Math.floor((new Date(h.time).getTime() - start) / (r.bucket * 3600e3));

			if (i < 0 || i >= n)
				return;

			out[i].attempts += h.attempts || 0;
			out[i].connections += h.connections || 0;

			for (const k in (h.services || {}))
				out[i].services[k] = (out[i].services[k] || 0) + h.services[k];
		});

		return out;
	},

	renderChart(stats) {
		/* As wide as the page (within 300 to 720 px), so that its text
		 * keeps its size on a phone rather than shrink with the drawing. */
		const view = document.querySelector('#view');
		const W = Math.round(Math.max(300, Math.min(720, (view && view.clientWidth) || 720)));
		const H = 200, top = 12, bottom = 34, left = 40;
		const buckets = this.buckets(stats), n = buckets.length;
		const bw = (W - left) / n;
		const max = Math.max.apply(null, [ 1 ].concat(buckets.map(function(b) { return b.attempts; })));
		const scale = (H - top - bottom) / max;
		const keys = (this.services || []).map(function(s) { return s.key; });
		const colour = function(k) { const i = keys.indexOf(k); return COLOURS[(i < 0 ? keys.length : i) % COLOURS.length]; };
		/* A label every few bars, one per 110 px at most. */
		const every = Math.ceil(n / Math.max(2, Math.floor((W - left) / 110)));

		const bars = buckets.map(L.bind(function(b, i) {
			let y = H - bottom;
			const rects = keys.concat(Object.keys(b.services).filter(function(k) { return keys.indexOf(k) < 0; })).filter(function(k) {
				return b.services[k];
			}).map(function(k) {
				const h = b.services[k] * scale;

				y -= h;

				return S('rect', {
					'data-service': k, 'data-count': String(b.services[k]),
					x: (left + i * bw + 0.5).toFixed(1), y: y.toFixed(1),
					width: Math.max(bw - 1, 0.5).toFixed(1), height: h.toFixed(1), fill: colour(k)
				});
			});
			const label = (i % every == 0) ? S('text', {
				x: (left + i * bw).toFixed(1), y: String(H - bottom + 12), 'font-size': '10', fill: 'currentColor'
			}, [ common.fmtDay(b.time) ]) : null;
			const hour = (i % every == 0 && (stats.range || this.range).bucket < 24) ? S('text', {
				x: (left + i * bw).toFixed(1), y: String(H - bottom + 24), 'font-size': '10', fill: 'currentColor'
			}, [ common.fmtHour(b.time) ]) : null;

			return S('g', { 'class': 'minipot-bucket', 'data-time': b.time.toISOString(), 'data-attempts': String(b.attempts) }, [
				S('title', {}, [ _('%s: %d attempts, %d connections').format(common.fmtTime(b.time), b.attempts, b.connections) ]),
				S('rect', { x: (left + i * bw).toFixed(1), y: String(top), width: bw.toFixed(1), height: String(H - top - bottom), fill: 'transparent' })
			].concat(rects, label ? [ label ] : [], hour ? [ hour ] : []));
		}, this));

		const svg = S('svg', {
			'id': 'minipot-chart', 'viewBox': '0 0 ' + W + ' ' + H, 'width': '100%',
			'role': 'img', 'aria-label': _('Attempts over time, per service'), 'style': 'max-width:' + W + 'px; display:block'
		}, [
			S('line', { x1: String(left), y1: String(H - bottom), x2: String(W), y2: String(H - bottom), stroke: 'currentColor' }),
			S('text', { x: '0', y: String(top + 8), 'font-size': '10', fill: 'currentColor' }, [ String(max) ]),
			S('text', { x: '0', y: String(H - bottom), 'font-size': '10', fill: 'currentColor' }, [ '0' ])
		].concat(bars));

		const totals = {};
		(stats.services || []).forEach(function(s) { totals[s.service] = s.attempts; });

		const legend = E('ul', { 'id': 'minipot-legend', 'style': 'list-style:none; margin:.5em 0; padding:0' }, keys.map(L.bind(function(k) {
			return E('li', { 'data-service': k, 'style': 'display:inline-block; margin-right:1em' }, [
				E('span', { 'style': 'display:inline-block; width:.8em; height:.8em; margin-right:.3em; background:' + colour(k) }),
				common.txt('%s (%d)'.format(this.serviceName(k), totals[k] || 0))
			]);
		}, this)));

		return E('div', {}, [ svg, legend ]);
	},

	renderStats(stats) {
		const root = this.nodes.stats;

		if (stats && stats.range && stats.range !== this.range)
			return;

		if (!stats || stats.error != null) {
			dom.content(root, E('p', {}, [ E('em', {}, [ common.txt(stats && stats.error || _('No statistics available.')) ]) ]));
			return;
		}

		const t = stats.top || {};
		const perService = new ui.Table([ _('Service'), _('Connections'), _('Attempts') ], { id: 'minipot-per-service', sortable: false });
		const sources = new ui.Table([ _('Address'), _('Connections') ], { id: 'minipot-top-sources', sortable: false });
		const pairs = new ui.Table([ _('Username'), _('Password'), _('Attempts') ], { id: 'minipot-top-credentials', sortable: false });

		perService.update((stats.services || []).filter(function(s) { return s.connections || s.attempts; }).map(L.bind(function(s) {
			return [ common.txt(this.serviceName(s.service)), common.txt(String(s.connections)), common.txt(String(s.attempts)) ];
		}, this)), _('No attacks yet.'));
		sources.update((t.sources || []).map(function(s) {
			return [ common.txt(s.value), common.txt(String(s.count)) ];
		}), _('No attacks yet.'));
		pairs.update((t.pairs || []).map(function(p) {
			return [ common.txt(p.username), common.txt(p.password), common.txt(String(p.count)) ];
		}), _('No credentials yet.'));

		dom.content(root, [
			E('p', { 'id': 'minipot-summary' }, [ common.txt(_('%d events from %s to %s.').format(stats.events || 0,
				common.fmtTime(stats.since), common.fmtTime(stats.until))) ]),
			this.renderChart(stats),
			E('h4', {}, [ _('Per service') ]),
			perService.render(),
			E('h4', {}, [ _('Top attacking addresses') ]),
			sources.render(),
			E('h4', {}, [ _('Top credentials') ]),
			stats.credentials_collected ? pairs.render()
				: E('p', { 'id': 'minipot-no-credentials' }, [ E('em', {}, [ stats.credentials_hidden
					? _('Credentials are not collected. Those stored while they were are hidden; "Delete stored credentials" removes them.')
					: _('Credentials are not collected.') ]) ])
		]);

		/* The actions the API counts are the filter's choices. */
		const actions = {};
		(stats.services || []).forEach(function(s) { Object.keys(s.actions || {}).forEach(function(a) { actions[a] = true; }); });
		this.fillSelect(this.nodes.action, Object.keys(actions).map(function(a) { return [ a, a ]; }));
	},

	/* Keeps a select's choice while its options are rebuilt. */
	fillSelect(sel, choices) {
		const cur = sel.value;

		dom.content(sel, [ E('option', { 'value': '' }, [ _('All') ]) ].concat(choices.map(function(c) {
			return E('option', { 'value': c[0] }, [ common.txt(c[1]) ]);
		})));
		sel.value = cur;
		if (sel.value != cur)
			sel.value = '';
	},

	/* --- events --- */

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

	/* Only the answer to the latest request is shown (a poll's may come
	 * after the owner's). */
	loadEvents() {
		const f = this.filter, seq = this.eventsSeq = (this.eventsSeq || 0) + 1;

		/* undefined leaves a parameter out (null would be sent). */
		return common.callEvents(f.service || undefined, f.src_ip || undefined, f.action || undefined, this.range.key, undefined,
			this.cursor || undefined, PAGE)
			.then(L.bind(common.check, common)).then(L.bind(function(page) {
				if (seq == this.eventsSeq)
					this.renderEvents(page);
			}, this));
	},

	renderEvents(page) {
		const evs = page.events || [];
		const table = new ui.Table([ _('Time'), _('Service'), _('Source'), _('Action'), _('Details') ],
			{ id: 'minipot-events', sortable: false });

		table.update(evs.map(L.bind(function(e) {
			return [ common.txt(common.fmtTime(e.time)), common.txt(this.serviceName(e.service)),
				common.txt(e.src_ip), common.txt(e.action), common.txt(this.eventDetail(e)) ];
		}, this)), _('No events.'));

		this.nextCursor = page.next_cursor || null;
		this.nodes.older.disabled = !this.nextCursor;
		this.nodes.newer.disabled = !this.back.length;
		dom.content(this.nodes.page, common.txt(_('Page %d').format(this.back.length + 1)));

		/* The export is the page as shown: these events, these fields. */
		const csv = [ CSV_FIELDS.join(',') ].concat(evs.map(function(e) {
			return CSV_FIELDS.map(function(k) { return csvCell(e[k]); }).join(',');
		})).join('\r\n') + '\r\n';
		const json = JSON.stringify({ filter: this.filter, range: this.range.key, events: evs }, null, 1);

		this.setExport(this.nodes.csv, new Blob([ csv ], { type: 'text/csv' }));
		this.setExport(this.nodes.json, new Blob([ json ], { type: 'application/json' }));

		dom.content(this.nodes.events, table.render());
	},

	setExport(link, blob) {
		if (link.href && link.href.indexOf('blob:') == 0)
			URL.revokeObjectURL(link.href);
		link.href = URL.createObjectURL(blob);
	},

	handleFilter(ev) {
		this.filter = {
			service: this.nodes.service.value,
			action: this.nodes.action.value,
			src_ip: this.nodes.address.value.trim()
		};
		this.cursor = null;
		this.back = [];

		return this.loadEvents().catch(L.bind(common.notifyError, common));
	},

	handleOlder(ev) {
		if (!this.nextCursor)
			return;

		this.back.push(this.cursor);
		this.cursor = this.nextCursor;

		return this.loadEvents().catch(L.bind(common.notifyError, common));
	},

	handleNewer(ev) {
		if (!this.back.length)
			return;

		this.cursor = this.back.pop();

		return this.loadEvents().catch(L.bind(common.notifyError, common));
	},

	handleRange(ev) {
		this.range = RANGES.filter(function(r) { return r.key == ev.target.value; })[0] || RANGES[0];
		this.cursor = null;
		this.back = [];

		return this.refresh(true);
	},

	/* --- the store and the purges --- */

	renderStore(st) {
		const s = st && st.store;

		if (!s) {
			dom.content(this.nodes.store, E('em', {}, [ _('Unknown') ]));
			return;
		}

		dom.content(this.nodes.store, [
			common.txt(s.max_size
				? _('The stored events take %1024.1mB of at most %1024.1mB.').format(s.size, s.max_size)
				: _('The stored events take %1024.1mB (no bound set).').format(s.size)),
			s.evicted ? common.txt(' ' + _('%d old events were deleted to stay within the bound.').format(s.evicted)) : ''
		]);
	},

	handlePurge(scope, ev) {
		const question = (scope == 'all')
			? _('Delete every stored event? The statistics are cleared too. This cannot be undone.')
			: _('Blank every stored username and password? The events themselves are kept. This cannot be undone.');

		ui.showModal(_('Purge stored data'), [
			E('p', {}, [ question ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn cbi-button', 'id': 'minipot-purge-cancel', 'click': ui.hideModal }, [ _('Cancel') ]),
				' ',
				E('button', {
					'class': 'btn cbi-button cbi-button-negative important',
					'id': 'minipot-purge-confirm',
					'click': ui.createHandlerFn(this, function() {
						return common.callPurge(scope).then(L.bind(common.check, common)).then(L.bind(function() {
							ui.hideModal();
							common.notify((scope == 'all') ? _('All events are deleted.') : _('Stored credentials are deleted.'));
							this.cursor = null;
							this.back = [];
							return this.refresh(true);
						}, this)).catch(function(err) {
							ui.hideModal();
							common.notifyError(err);
						});
					})
				}, [ _('Purge') ])
			])
		]);
	},

	/* Stats and status; the events too on their first page (paging back
	 * through them must not be pulled away by a poll). Only the latest
	 * refresh's answers are shown. */
	refresh(withEvents) {
		const seq = this.statusSeq = (this.statusSeq || 0) + 1;

		return Promise.all([
			this.fetchStats().then(L.bind(function(stats) {
				if (seq == this.statusSeq)
					this.renderStats(stats);
			}, this)),
			common.callStatus().then(L.bind(common.check, common)).then(L.bind(function(st) {
				if (seq != this.statusSeq)
					return;
				this.services = common.serviceList(st, null);
				this.renderStore(st);
			}, this)),
			(withEvents || this.cursor == null) ? this.loadEvents() : null
		]).catch(L.bind(common.notifyError, common));
	},

	render(data) {
		const st = data[0], stats = data[1];
		const readonly = !L.hasViewPermission();

		this.services = common.serviceList(st, null);
		this.filter = { service: '', action: '', src_ip: '' };
		this.back = [];

		const n = this.nodes = {
			stats: E('div', { 'id': 'minipot-stats', 'style': 'overflow-wrap:anywhere' }),
			/* Attacker text may be one long word: it wraps anywhere rather
			 * than widen the page past a phone's screen. */
			events: E('div', { 'id': 'minipot-events-table', 'style': 'overflow-wrap:anywhere' }),
			store: E('p', { 'id': 'minipot-store' }),
			service: E('select', { 'class': 'cbi-input-select', 'id': 'minipot-filter-service' }),
			action: E('select', { 'class': 'cbi-input-select', 'id': 'minipot-filter-action' }),
			address: E('input', { 'class': 'cbi-input-text', 'id': 'minipot-filter-address', 'type': 'text',
				'placeholder': _('e.g. 192.0.2.1'), 'maxlength': '64',
				'keydown': L.bind(function(ev) { if (ev.key == 'Enter') this.handleFilter(ev); }, this) }),
			page: E('span', { 'id': 'minipot-page' }),
			/* Plain handlers: ui.createHandlerFn would enable the button
			 * again after the page came, whatever the page says. */
			older: E('button', { 'class': 'btn cbi-button', 'id': 'minipot-older', 'click': L.bind(this.handleOlder, this) }, [ _('Older') ]),
			newer: E('button', { 'class': 'btn cbi-button', 'id': 'minipot-newer', 'click': L.bind(this.handleNewer, this) }, [ _('Newer') ]),
			csv: E('a', { 'class': 'btn cbi-button', 'id': 'minipot-export-csv', 'download': 'minipot-events.csv' }, [ _('Export CSV') ]),
			json: E('a', { 'class': 'btn cbi-button', 'id': 'minipot-export-json', 'download': 'minipot-events.json' }, [ _('Export JSON') ])
		};

		this.fillSelect(n.service, this.services.map(function(s) { return [ s.key, s.label ]; }));
		this.renderStats(stats);
		this.renderStore(st);

		const field = function(label, id, widget) {
			return E('div', { 'class': 'cbi-value' }, [
				E('label', { 'class': 'cbi-value-title', 'for': id }, [ label ]),
				E('div', { 'class': 'cbi-value-field' }, [ widget ])
			]);
		};

		const node = E('div', { 'class': 'cbi-map', 'id': 'minipot-reports' }, [
			E('h2', {}, [ _('Data collection: reports') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('What attackers from the internet tried on the minipots of this router.') ]),

			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Attempts') ]),
				field(_('Range'), 'minipot-range', E('select', {
					'class': 'cbi-input-select', 'id': 'minipot-range', 'change': ui.createHandlerFn(this, 'handleRange')
				}, [
					E('option', { 'value': '24h' }, [ _('Last 24 hours') ]),
					E('option', { 'value': '7d' }, [ _('Last 7 days') ]),
					E('option', { 'value': '30d' }, [ _('Last 30 days') ])
				])),
				n.stats
			]),

			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Events') ]),
				field(_('Service'), 'minipot-filter-service', n.service),
				field(_('Action'), 'minipot-filter-action', n.action),
				field(_('Address'), 'minipot-filter-address', n.address),
				E('div', { 'class': 'cbi-value' }, [
					E('div', { 'class': 'cbi-value-field' }, [
						E('button', { 'class': 'btn cbi-button cbi-button-action', 'id': 'minipot-filter',
							'click': ui.createHandlerFn(this, 'handleFilter') }, [ _('Show') ])
					])
				]),
				n.events,
				E('div', { 'class': 'right', 'style': 'display:flex; flex-wrap:wrap; gap:.5em; justify-content:flex-end; align-items:center' }, [
					n.newer, n.page, n.older, n.csv, n.json
				])
			]),

			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, [ _('Stored data') ]),
				n.store,
				E('p', {}, [
					E('button', {
						'class': 'btn cbi-button cbi-button-negative',
						'id': 'minipot-purge-credentials',
						'disabled': readonly ? '' : null,
						'click': ui.createHandlerFn(this, 'handlePurge', 'credentials')
					}, [ _('Delete stored credentials') ]),
					' ',
					E('button', {
						'class': 'btn cbi-button cbi-button-negative',
						'id': 'minipot-purge-all',
						'disabled': readonly ? '' : null,
						'click': ui.createHandlerFn(this, 'handlePurge', 'all')
					}, [ _('Delete all events') ])
				])
			])
		]);

		poll.add(L.bind(function() { return this.refresh(false); }, this), 30);

		return this.loadEvents().catch(L.bind(common.notifyError, common)).then(function() { return node; });
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
