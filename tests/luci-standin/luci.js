'use strict';

/*
 * A LuCI stand-in: just enough of luci.js (L, E, _, dom, rpc, ui, view,
 * poll, String.prototype.format) to load a client-side view the way LuCI
 * does and run it against a real ubus endpoint.
 *
 * Where the behaviour matters for safety or for the protocol it follows
 * LuCI's: dom.append() assigns a bare string child to innerHTML (an array's
 * strings become text nodes), E() of a string starting with '<' parses
 * markup, and rpc calls are JSON-RPC "call" requests to /ubus answered
 * with [status, data], a non-zero status resolving to the bare number.
 *
 * Test hooks on window: __luci.calls (every ubus call made), __luci.i18n
 * (every string passed to _()), __luci.poll() (runs the poll functions once),
 * __luci.ready / __luci.error (the view rendered, or why not).
 */
(function() {
	const hooks = window.__luci = { calls: [], i18n: {}, ready: false, error: null, pending: 0 };

	String.prototype.format = function() {
		const args = arguments;
		let i = 0;

		return this.replace(/%(%|s|d|x)/g, function(m, f) {
			if (f == '%')
				return '%';

			const v = args[i++];

			if (f == 'd')
				return String(Math.trunc(Number(v)) || 0);
			if (f == 'x')
				return (Number(v) || 0).toString(16);

			return (v == null) ? '' : String(v);
		});
	};

	window._ = function(s) {
		hooks.i18n[s] = true;
		return s;
	};

	const dom = {
		elem(e) {
			return (e != null && typeof(e) == 'object' && 'nodeType' in e);
		},

		parse(s) {
			const d = document.createElement('div');
			d.innerHTML = s;
			return d.firstChild;
		},

		append(node, children) {
			if (!this.elem(node))
				return null;

			if (Array.isArray(children)) {
				children.forEach(function(c) {
					if (dom.elem(c))
						node.appendChild(c);
					else if (c != null)
						node.appendChild(document.createTextNode(String(c)));
				});
				return node.lastChild;
			}

			if (typeof(children) == 'function')
				return this.append(node, children(node));

			if (this.elem(children))
				return node.appendChild(children);

			/* LuCI does this too: a bare string is markup. */
			if (children != null) {
				node.innerHTML = String(children);
				return node.lastChild;
			}

			return null;
		},

		content(node, children) {
			if (!this.elem(node))
				return null;

			while (node.firstChild)
				node.removeChild(node.firstChild);

			return this.append(node, children);
		},

		attr(node, key, val) {
			const attrs = (typeof(key) == 'object' && key != null) ? key : { [key]: val };

			for (let k in attrs) {
				const v = attrs[k];

				if (v == null)
					continue;
				if (typeof(v) == 'function')
					node.addEventListener(k, v);
				else if (typeof(v) == 'object')
					node.setAttribute(k, JSON.stringify(v));
				else
					node.setAttribute(k, v);
			}
		},

		create(html, attr, data) {
			let el;

			if (Array.isArray(html)) {
				el = document.createDocumentFragment();
				data = html.concat(data || []);
				attr = null;
			}
			else if (this.elem(html))
				el = html;
			else if (html.charAt(0) == '<')
				el = this.parse(html);
			else
				el = document.createElement(html);

			if (!el)
				return null;

			/* E(tag, children) without attributes */
			if (data === undefined && (Array.isArray(attr) || this.elem(attr) || typeof(attr) != 'object')) {
				data = attr;
				attr = null;
			}

			if (attr)
				this.attr(el, attr);

			this.append(el, data);
			return el;
		}
	};

	window.E = function() {
		return dom.create.apply(dom, arguments);
	};

	const ubusStatus = [ 'Success', 'Invalid command', 'Invalid argument', 'Method not found',
		'Not found', 'No response', 'Permission denied', 'Request timed out', 'Operation not supported',
		'Unspecified error', 'Connection failed' ];

	let rpcId = 1;

	const rpc = {
		getStatusText(code) {
			return ubusStatus[code] || 'Unknown error %d'.format(code);
		},

		declare(opts) {
			return function() {
				const args = {};
				const argv = arguments;

				(opts.params || []).forEach(function(p, i) {
					if (argv[i] !== undefined)
						args[p] = argv[i];
				});

				const req = { jsonrpc: '2.0', id: rpcId++, method: 'call',
					params: [ 'standin-session', opts.object, opts.method, args ] };

				hooks.calls.push({ object: opts.object, method: opts.method, args: args });
				hooks.pending++;

				/* ?ubus=PATH points the page at another endpoint. */
				return fetch(new URLSearchParams(location.search).get('ubus') || '/ubus', {
					method: 'POST',
					headers: { 'Content-Type': 'application/json' },
					body: JSON.stringify(req)
				}).then(function(r) {
					return r.json();
				}).then(function(msg) {
					hooks.pending--;

					if (msg.error)
						throw new Error('RPC error: ' + msg.error.message);

					const res = msg.result;

					if (opts.reject && res[0] !== 0)
						throw new Error('RPC call to %s/%s failed with ubus code %d: %s'.format(
							opts.object, opts.method, res[0], rpc.getStatusText(res[0])));

					/* As in LuCI, a failed call yields the bare status, which
					 * `expect` replaces with its default like any mismatch. */
					let ret = (res.length > 1) ? res[1] : res[0];

					for (let key in (opts.expect || {})) {
						if (ret != null && key != '')
							ret = ret[key];
						if (ret == null || typeof(ret) != typeof(opts.expect[key]))
							ret = opts.expect[key];
						break;
					}

					return (typeof(opts.filter) == 'function') ? opts.filter(ret, args) : ret;
				}, function(err) {
					hooks.pending--;
					throw err;
				});
			};
		}
	};

	function modal() {
		return document.getElementById('modal');
	}

	const ui = {
		addNotification(title, children, cls) {
			const n = E('div', { 'class': 'alert-message ' + (cls || '') }, [
				title ? E('h4', {}, title) : '',
				E('div', {}, children)
			]);

			document.getElementById('notifications').appendChild(n);
			return n;
		},

		showModal(title, children) {
			const m = modal();

			dom.content(m, [ title ? E('h4', {}, title) : '', E('div', {}, children) ]);
			m.style.display = 'block';
			return m;
		},

		hideModal() {
			const m = modal();

			dom.content(m, []);
			m.style.display = 'none';
		},

		/* Like LuCI: the handler gets the bound arguments, then the event;
		 * the button is disabled while a returned promise runs. */
		createHandlerFn(ctx, fn) {
			if (typeof(fn) == 'string')
				fn = ctx[fn];

			const bound = Array.prototype.slice.call(arguments, 2);

			return function(ev) {
				const t = ev.currentTarget;

				t.disabled = true;
				t.classList.add('spinning');

				return Promise.resolve(fn.apply(ctx, bound.concat([ ev ]))).finally(function() {
					t.disabled = false;
					t.classList.remove('spinning');
				});
			};
		}
	};

	const pollFns = [];

	const poll = {
		add(fn, interval) {
			pollFns.push(fn);
		}
	};

	/* The test steps the poll itself instead of waiting for a timer. */
	hooks.poll = function() {
		return Promise.all(pollFns.map(function(fn) { return fn(); }));
	};

	const view = {
		extend(proto) {
			return proto;
		}
	};

	const L = window.L = {
		env: { resource: '/luci-static/resources' },

		/* ?readonly=1 plays a session with the read half of the ACL. */
		hasViewPermission() {
			return new URLSearchParams(location.search).get('readonly') != '1';
		},

		bind(fn, ctx) {
			const bound = Array.prototype.slice.call(arguments, 2);

			return function() {
				return fn.apply(ctx, bound.concat(Array.prototype.slice.call(arguments)));
			};
		},

		resolveDefault(p, def) {
			return Promise.resolve(p).catch(function() { return def; });
		},

		modules: { view: view, rpc: rpc, ui: ui, dom: dom, poll: poll },

		/* Loads a view like LuCI: fetch the source, read its 'require'
		 * lines, and compile it as a function whose arguments are those
		 * modules; what it returns is the view class. */
		require(name) {
			const url = L.env.resource + '/' + name.replace(/\./g, '/') + '.js';

			return fetch(url).then(function(r) {
				if (!r.ok)
					throw new Error('%s: HTTP %d'.format(url, r.status));
				return r.text();
			}).then(function(src) {
				const names = [], mods = [];
				const re = /^\s*'require\s+([a-zA-Z0-9_.]+)(?:\s+as\s+([a-zA-Z0-9_]+))?'\s*;/gm;
				let m;

				while ((m = re.exec(src)) != null) {
					if (!(m[1] in L.modules))
						throw new Error('the stand-in has no module ' + m[1]);
					names.push(m[2] || m[1]);
					mods.push(L.modules[m[1]]);
				}

				const factory = new Function(names.join(','), src + '\n//# sourceURL=' + url);

				return factory.apply(L, mods);
			});
		},

		/* What LuCI's view class does on instantiation: load, render, put
		 * the result into #view, add the footer. */
		boot(name) {
			return L.require(name).then(function(proto) {
				const v = Object.create(proto);

				return Promise.resolve(v.load()).then(function(data) {
					return v.render(data);
				}).then(function(node) {
					const vp = document.getElementById('view');

					dom.content(vp, node);

					if (v.handleSaveApply || v.handleSave || v.handleReset)
						vp.appendChild(E('div', { 'class': 'cbi-page-actions', 'id': 'standin-footer' }, [ 'footer' ]));

					window.__view = v;
					hooks.ready = true;
				});
			}).catch(function(err) {
				hooks.error = String(err && err.stack || err);
			});
		}
	};

	/* Anything thrown later (a handler, a poll) is a test failure too. */
	window.addEventListener('error', function(ev) { hooks.error = hooks.error || String(ev.message); });
	window.addEventListener('unhandledrejection', function(ev) { hooks.error = hooks.error || String(ev.reason); });
})();
