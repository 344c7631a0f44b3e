'use strict';
'require view';
'require form';
'require ui';
'require dom';
'require poll';
'require minipot.common as common';

/*
 * Services → Data collection → Settings: the switches of the minipots
 * (the master switch, credentials, each service of the list the API
 * returns), the fleet export's switches, and the state of each.
 *
 * A form.JSONMap, not a uci-backed form.Map: the settings go through the
 * ubus object "minipot" (set_settings), never through rpcd's uci
 * apply/rollback. The API checks every field, writes /etc/config/ucollect
 * atomically, converges the firewall and reloads the agent in one step,
 * and its ETag refuses to overwrite a change made elsewhere meanwhile. So
 * the footer differs from LuCI's in one way: "Save & Apply" saves and
 * applies at once (both of its modes: there is no rollback to arm, the
 * API refuses what would not work), and there is no "Save" button,
 * because a change cannot wait in LuCI's staging area: the file is the
 * one source of truth (docs/openwrt.md, LuCI).
 */

/* '1'/'0', as form.Flag stores a switch. */
function flag(v) {
	return v ? '1' : '0';
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

return view.extend({
	etag: null,
	map: null,
	nodes: null,

	load() {
		return Promise.all([
			/* Without the settings there is no page, only the reason. */
			common.callGetSettings().then(L.bind(common.check, common)).catch(function(err) {
				return { error: common.errorText(err) };
			}),
			L.resolveDefault(common.callStatus().then(L.bind(common.check, common)), null),
			L.resolveDefault(common.callVersion().then(L.bind(common.check, common)), null)
		]);
	},

	/* The state of each service, the agent and the exporter, as the API
	 * computed them, shown as given. */
	renderStatus(st) {
		const nodes = this.nodes;

		Object.keys(nodes.state).forEach(function(key) {
			const svc = ((st && st.services) || []).filter(function(x) { return x.key == key; })[0];
			const state = svc && svc.state, cell = nodes.state[key];

			if (!state) {
				cell.setAttribute('data-state', 'unknown');
				dom.content(cell, E('em', {}, [ _('Unknown') ]));
				return;
			}

			cell.setAttribute('data-state', state.code);
			cell.setAttribute('data-reason', state.reason || '');
			dom.content(cell, [ E('strong', {}, [ common.txt(state.text) ]) ].concat(familyDetails(state).map(function(d) {
				return E('div', { 'class': 'cbi-value-description' }, [ common.txt(d) ]);
			})));
		});

		/* The note is rebuilt only when what it says changes: a poll must
		 * not swap a button away under the owner's finger. */
		const noteKey = JSON.stringify([ st && st.agent && [ st.agent.running, st.agent.in_sync, st.agent.note ],
			st && st.settings && [ st.settings.valid, st.settings.errors ],
			st && st.store && [ st.store.state, st.store.problem, st.store.recovered ] ]);

		this.renderExportState(st);

		if (noteKey == nodes.noteKey)
			return;

		nodes.noteKey = noteKey;

		const msgs = [];

		if (st && st.agent && !st.agent.running)
			msgs.push(E('p', {}, [ common.txt(_('The minipot agent is not running.')), ' ', common.txt(st.agent.note) ]));
		else if (st && st.agent && !st.agent.in_sync)
			msgs.push(E('p', {}, [
				common.txt(_('The agent does not run with the settings file as it is now.')), ' ',
				E('button', {
					'class': 'btn cbi-button cbi-button-action',
					'id': 'minipot-apply',
					'disabled': this.map.readonly ? '' : null,
					'click': ui.createHandlerFn(this, 'handleApplyFile')
				}, [ _('Apply the settings file') ])
			]));

		/* The agent serves on without a store it may not use (another
		 * program's file at store.path): the owner must act. */
		if (st && st.store && st.store.state == 'unavailable')
			msgs.push(E('p', { 'id': 'minipot-store-problem' }, [ common.txt(_('No events are being stored.')), ' ', common.txt(st.store.problem) ]));
		else if (st && st.store && st.store.recovered)
			msgs.push(E('p', { 'id': 'minipot-store-problem' }, [ common.txt(st.store.recovered) ]));

		/* Each invalid option by its name, with the API's reason. */
		if (st && st.settings && st.settings.valid === false)
			msgs.push(E('div', { 'id': 'minipot-invalid' }, [
				E('p', {}, [ _('The settings file has invalid options; saving here repairs the switches shown, the rest needs /etc/config/ucollect fixed:') ]),
				E('ul', {}, (st.settings.errors || []).map(function(e) {
					return E('li', {}, [ E('code', {}, [ common.txt(e.field || 'ucollect') ]), ' ', common.txt(e.message) ]);
				}))
			]));

		dom.content(nodes.note, msgs.length ? E('div', { 'class': 'alert-message warning' }, msgs) : []);
		nodes.note.style.display = msgs.length ? '' : 'none';
	},

	renderExportState(st) {
		const x = (st && st.export) || {}, m = x.mqtt;
		let conn = _('Export is off');

		if (x.enabled)
			conn = !x.running ? _('No: the exporter is not running') : (m && m.connected ? _('Yes') : _('No'));

		const t = this.nodes.exportTable;

		t.update([ [
			common.txt(x.sensor || '–'),
			common.txt(conn),
			common.txt(m && m.last_export ? common.fmtTime(m.last_export) : _('Never')),
			common.txt(m ? String(m.waiting) : '–'),
			common.txt(m ? String(m.lost) : '–'),
			common.txt((m && m.last_error) || x.error || x.note || _('None'))
		] ]);
	},

	/* Only the answer to the latest request is shown: a poll's answer
	 * from before a save must not show the state before it. */
	refreshStatus() {
		const seq = this.statusSeq = (this.statusSeq || 0) + 1;

		return common.callStatus().then(L.bind(common.check, common)).then(L.bind(function(st) {
			if (seq == this.statusSeq)
				this.renderStatus(st);
		}, this));
	},

	render(data) {
		const settings = data[0], st = data[1], version = data[2];

		if (settings.error != null)
			return E('div', {}, [
				E('h2', {}, [ _('Data collection') ]),
				E('div', { 'class': 'alert-message warning', 'id': 'minipot-unavailable' }, [
					E('p', {}, [ _('The minipot service cannot be reached. Is the minipot package installed and its API running?') ]),
					E('pre', {}, [ common.txt(settings.error) ])
				])
			]);

		this.etag = settings.etag || null;

		const services = common.serviceList(st, settings);
		const svcs = settings.services || {}, x = settings.export || {};
		const nodes = this.nodes = { state: {}, note: E('div', { 'id': 'minipot-agent-note', 'style': 'display:none' }) };

		services.forEach(function(s) {
			nodes.state[s.key] = E('span', { 'id': 'minipot-status-' + s.key, 'data-state': 'unknown' }, [ E('em', {}, [ _('Unknown') ]) ]);
		});

		const m = this.map = new form.JSONMap({
			fakes: {
				enabled: flag(settings.enabled),
				log_credentials: flag(settings.log_credentials)
			},
			service: services.map(function(s) {
				return { '.name': s.key, label: s.label, port: String(s.port), description: s.description || '',
					enabled: flag(svcs[s.key] && svcs[s.key].enabled) };
			}),
			export: {
				enabled: flag(x.enabled),
				credentials: flag(x.credentials)
			}
		}, _('Data collection'), _('Minipots are fake Telnet, HTTP, proxy, FTP, SMTP and SSH services that catch attackers scanning the router from the internet. They answer every login with a wrong password and record who tried what.'));

		/* A session whose ACL grants only the read half sees the page
		 * with every control disabled (and the footer too). */
		m.readonly = !L.hasViewPermission();

		let s = m.section(form.NamedSection, 'fakes', 'fakes', _('Minipots'));
		let o = s.option(form.Flag, 'enabled', _('Enable data collection'),
			_('The master switch: when off, no minipot listens and no firewall rule sends anything to one.'));
		o.rmempty = false;

		o = s.option(form.Flag, 'log_credentials', _('Collect credentials'), [
			_('Without this, only the address of the attacker, the time and what was asked for (a URL, a proxy target, a command) are kept. That is enough to recognise active attackers.'),
			_('With it, the username and password of every attempt are kept too, so that attackers trying the same list of passwords can be grouped: they are most likely run by the same people.'),
			_('No password opens a minipot: there is nothing behind the prompt. Still, each one is one more program reachable from the internet, and any program can have bugs.'),
			_('If you mistake a minipot for your real service and type a real password while this is on, that password gets stored. Delete it under Reports. These protocols send passwords unencrypted, so such a password was exposed on the way anyway.')
		].join('<br />'));
		o.rmempty = false;

		s = m.section(form.TableSection, 'service', _('Services'),
			_('A minipot only takes connections that the router would refuse otherwise: if you run a real service on the port, or forward it to another computer, the connection goes there.'));
		s.anonymous = true;
		s.addremove = false;

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.rmempty = false;

		o = s.option(form.DummyValue, 'label', _('Service'));
		o.rawhtml = true;
		o.cfgvalue = function(sid) {
			return E('span', { 'title': this.map.data.get('json', sid, 'description') || null }, [
				common.txt(this.map.data.get('json', sid, 'label'))
			]);
		};

		o = s.option(form.DummyValue, 'port', _('Port'));

		o = s.option(form.DummyValue, '_state', _('Status'));
		o.rawhtml = true;
		o.cfgvalue = function(sid) { return nodes.state[sid]; };

		s = m.section(form.NamedSection, 'export', 'export', _('Fleet export'));
		o = s.option(form.Flag, 'enabled', _('Send events to a collector'),
			_('Publishes every stored event over TLS to the MQTT broker %s. Events wait in the store while the collector cannot be reached. The broker, certificates and password file are set in section export of /etc/config/ucollect.').format(x.broker ? '%h'.format(x.broker) : _('(none set)')));
		o.rmempty = false;
		o = s.option(form.Flag, 'credentials', _('Send credentials too'),
			_('Usernames and passwords leave the router only when credentials are collected and this is on.'));
		o.rmempty = false;

		nodes.exportTable = new ui.Table(
			[ _('Sensor'), _('Connected'), _('Last successful export'), _('Events waiting'), _('Events lost to retention'), _('Last error') ],
			{ id: 'minipot-export-state', sortable: false }, E('em', {}, [ _('Unknown') ]));
		o = s.option(form.DummyValue, '_state', _('Exporter'));
		o.rawhtml = true;
		o.cfgvalue = function() { return nodes.exportTable.render(); };

		return m.render().then(L.bind(function(mapEl) {
			this.renderStatus(st);

			poll.add(L.bind(this.refreshStatus, this), 30);

			return E('div', {}, [
				nodes.note,
				mapEl,
				E('p', { 'id': 'minipot-version', 'style': 'font-size:smaller' }, [
					common.txt(version && version.version ? _('minipot version %s').format(version.version) : '')
				])
			]);
		}, this));
	},

	/* Reads the parsed form into a patch for set_settings. */
	patch() {
		const d = this.map.data, on = function(sid, opt) { return d.get('json', sid, opt) == '1'; };
		const services = {};

		d.sections('json', 'service').forEach(function(s) {
			services[s['.name']] = { enabled: on(s['.name'], 'enabled') };
		});

		return {
			enabled: on('fakes', 'enabled'),
			log_credentials: on('fakes', 'log_credentials'),
			services: services,
			export: { enabled: on('export', 'enabled'), credentials: on('export', 'credentials') }
		};
	},

	handleSaveApply(ev, mode) {
		let changed = false;

		return this.map.save(L.bind(function() {
			return common.callSetSettings(this.patch(), this.etag || undefined).then(L.bind(common.check, common)).then(L.bind(function(res) {
				if (res.etag)
					this.etag = res.etag;
				changed = !!res.changed;
			}, this));
		}, this), true).then(L.bind(function() {
			common.notify(changed ? _('The settings are saved and in effect.') : _('Nothing changed.'));
			return this.refreshStatus();
		}, this)).catch(L.bind(common.notifyError, common));
	},

	/* No staging: see the comment at the top. */
	handleSave: null,

	handleApplyFile(ev) {
		return common.callApply().then(L.bind(common.check, common)).then(L.bind(function() {
			common.notify(_('The agent runs the settings file now.'));
			return this.refreshStatus();
		}, this)).catch(L.bind(common.notifyError, common));
	}
});
