// The API reference: renders /openapi.json (public) as a page, offline.
'use strict';

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

function typeOf(s, doc) {
  if (!s) return '';
  if (s.$ref) return s.$ref.split('/').pop();
  if (s.type === 'array') return typeOf(s.items, doc) + '[]';
  let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || (s.enum ? 'enum' : 'object'));
  if (s.enum) t += ' (' + s.enum.join(', ') + ')';
  const bounds = [];
  if (s.minimum !== undefined) bounds.push('≥ ' + s.minimum);
  if (s.maximum !== undefined) bounds.push('≤ ' + s.maximum);
  if (s.maxLength !== undefined) bounds.push('length ≤ ' + s.maxLength);
  if (s.format) bounds.push(s.format);
  return t + (bounds.length ? ' [' + bounds.join(', ') + ']' : '');
}

function resolve(r, doc) {
  if (r && r.$ref) return r.$ref.split('/').slice(1).reduce((o, k) => o && o[k], doc);
  return r;
}

function schemaTable(s, doc) {
  const props = Object.entries((s && s.properties) || {});
  if (!props.length) return h('p', { class: 'muted' }, typeOf(s, doc));
  const req = new Set(s.required || []);
  return h('table', {}, h('tbody', {}, props.map(([n, p]) => h('tr', {},
    h('td', {}, h('code', {}, n), req.has(n) ? ' *' : ''), h('td', {}, typeOf(p, doc)), h('td', {}, p.description || '')))));
}

async function render() {
  const main = document.getElementById('docs');
  const doc = await (await fetch('/openapi.json')).json();
  const out = [h('h1', {}, doc.info.title + ' ' + doc.info.version), h('p', {}, doc.info.description || '')];
  const toc = h('ul', {});
  out.push(toc);
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const id = (method + path).replace(/[^a-z0-9]+/gi, '-');
      toc.append(h('li', {}, h('a', { href: '#' + id }, method.toUpperCase() + ' ' + path), ' — ' + (op.summary || '')));
      const sec = h('section', { class: 'group', id });
      sec.append(h('h2', {}, h('code', {}, method.toUpperCase() + ' ' + path)), h('p', {}, op.summary || ''));
      if (op.description) sec.append(h('p', { class: 'muted' }, op.description));
      const open = Array.isArray(op.security) && op.security.length === 0;
      sec.append(h('p', { class: 'muted' }, open ? 'No key needed.' : 'Needs X-API-Key.'));
      if (op.parameters && op.parameters.length) {
        sec.append(h('h3', {}, 'Parameters'), h('table', {}, h('tbody', {}, op.parameters.map(p => h('tr', {},
          h('td', {}, h('code', {}, p.name), p.required ? ' *' : ''), h('td', {}, p.in), h('td', {}, typeOf(p.schema, doc)), h('td', {}, p.description || ''))))));
      }
      if (op.requestBody) {
        for (const [ct, c] of Object.entries(op.requestBody.content || {})) {
          sec.append(h('h3', {}, 'Body: ' + ct), schemaTable(resolve(c.schema, doc), doc));
        }
      }
      sec.append(h('h3', {}, 'Answers'), h('table', {}, h('tbody', {}, Object.entries(op.responses || {}).map(([code, r]) => {
        const rr = resolve(r, doc) || {};
        const c = rr.content && Object.values(rr.content)[0];
        return h('tr', {}, h('td', {}, code), h('td', {}, rr.description || ''), h('td', {}, c ? typeOf(c.schema, doc) : ''));
      }))));
      out.push(sec);
    }
  }
  out.push(h('h1', {}, 'Schemas'));
  for (const [name, s] of Object.entries((doc.components && doc.components.schemas) || {})) {
    out.push(h('section', { class: 'group', id: 'schema-' + name }, h('h2', {}, name), s.description ? h('p', {}, s.description) : null, schemaTable(s, doc)));
  }
  main.replaceChildren(...out);
}

render().catch(e => { document.getElementById('docs').textContent = 'Cannot read /openapi.json: ' + e.message; });
