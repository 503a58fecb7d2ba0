// One L7 policy and its rules: the policy's settings and an editor of its
// rules (every type and compare type), in the order the listener applies them.
import { canWrite, del, get, lb, list, post, put } from './api.js';
import { badge, clear, confirmDelete, h, link, nameOf } from './dom.js';
import { V, form } from './forms.js';
import { write } from './objects.js';

const RULE = [
  { name: 'type', label: 'Type', type: 'select', options: V.ruleTypes, optional: false },
  { name: 'compare_type', label: 'Compare', type: 'select', options: V.compareTypes, optional: false },
  { name: 'key', label: 'Key', help: 'HEADER, COOKIE and SSL_DN_FIELD only' },
  { name: 'value', label: 'Value' },
  { name: 'invert', label: 'Invert', type: 'bool' },
  { name: 'admin_state_up', label: 'Enabled', type: 'bool', default: true },
  { name: 'tags', label: 'Tags', type: 'list' }];

const POLICY = (pools) => [
  { name: 'name', label: 'Name' }, { name: 'description', label: 'Description' },
  { name: 'action', label: 'Action', type: 'select', options: V.actions, optional: false },
  { name: 'position', label: 'Position', type: 'number', min: 1 },
  { name: 'redirect_pool_id', label: 'Redirect pool', type: 'select', options: pools.map((p) => [p.id, nameOf(p)]) },
  { name: 'redirect_url', label: 'Redirect URL' }, { name: 'redirect_prefix', label: 'Redirect prefix' },
  { name: 'redirect_http_code', label: 'Redirect code', type: 'select', options: V.redirectCodes, numeric: true },
  { name: 'admin_state_up', label: 'Enabled', type: 'bool', default: true },
  { name: 'tags', label: 'Tags', type: 'list' }];

export async function render(main, ctx, id) {
  const policy = (await get(lb(`l7policies/${id}`))).l7policy;
  const listener = (await get(lb(`listeners/${policy.listener_id}`))).listener;
  const lbId = listener.loadbalancers[0].id;
  const [pools, rules] = await Promise.all([list('pools', { loadbalancer_id: lbId }),
    get(lb(`l7policies/${id}/rules`)).then((r) => r.rules)]);
  const writable = canWrite();
  const ruleForm = (rule, index) => form({ id: `rule-${index + 1}`, value: rule, specs: RULE, readOnly: !writable,
    legend: `Rule ${index + 1} · ${rule.type} ${rule.compare_type} ${rule.key ? rule.key + ' ' : ''}"${rule.value}"`,
    extra: writable ? h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (await confirmDelete(`Delete rule ${index + 1}?`, [])) await write(lbId, ctx, () => del(lb(`l7policies/${id}/rules/${rule.id}`)));
    } }, 'Delete rule') : null,
    onSubmit: (data) => write(lbId, ctx, () => put(lb(`l7policies/${id}/rules/${rule.id}`), { rule: data })) });
  clear(main, h('p', {}, link(`#/listeners/${listener.id}`, `← listener ${nameOf(listener)}`)),
    h('h2', {}, `L7 policy ${nameOf(policy)}`),
    h('p', {}, badge(policy.provisioning_status), ' ', badge(policy.operating_status), ` · position ${policy.position} · ${policy.id}`),
    form({ id: 'l7policy-form', value: policy, specs: POLICY(pools), legend: 'Policy', readOnly: !writable,
      onSubmit: (data) => write(lbId, ctx, () => put(lb(`l7policies/${id}`), { l7policy: data })) }),
    h('h3', {}, `Rules (${rules.length}; all must match)`),
    h('div', { id: 'rules' }, rules.map(ruleForm)),
    writable ? form({ id: 'add-rule', legend: 'Add a rule', submit: 'Add rule', specs: RULE,
      onSubmit: (data) => write(lbId, ctx, () => post(lb(`l7policies/${id}/rules`), { rule: data })) }) : null,
    writable ? h('p', {}, h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (await confirmDelete(`Delete L7 policy ${nameOf(policy)}?`, [`L7 policy ${nameOf(policy)}`, ...rules.map((r) => `Rule ${r.type} ${r.value}`)])) {
        await del(lb(`l7policies/${id}`));
        location.hash = `#/listeners/${listener.id}`;
      }
    } }, 'Delete policy')) : null);
}
