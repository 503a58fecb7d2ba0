"""Pool, member and health monitor writes."""
from lbaas import config, errors
from lbaas.db import models
from lbaas.schemas import rules
from lbaas.service import lifecycle, providers, quotas

POOL_COLUMNS = {'tls_container_ref': 'tls_certificate_id',
                'ca_tls_container_ref': 'ca_tls_certificate_id',
                'crl_container_ref': 'crl_container_id', 'admin_state_up': 'enabled'}
POOL_FIELDS = ('name', 'description', 'protocol', 'lb_algorithm', 'session_persistence',
               'tls_enabled', 'tls_container_ref', 'ca_tls_container_ref',
               'crl_container_ref', 'tls_ciphers', 'tls_versions', 'alpn_protocols',
               'admin_state_up', 'tags')
MEMBER_COLUMNS = {'address': 'ip_address', 'admin_state_up': 'enabled'}
MEMBER_FIELDS = ('name', 'address', 'protocol_port', 'weight', 'backup', 'subnet_id',
                 'monitor_address', 'monitor_port', 'admin_state_up', 'tags')
HM_COLUMNS = {'max_retries': 'rise_threshold', 'max_retries_down': 'fall_threshold',
              'admin_state_up': 'enabled'}
HM_FIELDS = ('name', 'type', 'delay', 'timeout', 'max_retries', 'max_retries_down',
             'http_method', 'url_path', 'expected_codes', 'http_version', 'domain_name',
             'admin_state_up', 'tags')


def assign(obj, values, fields, columns):
    for name, value in values.items():
        if name == 'tags':
            obj.tags = value
        elif name in fields:
            setattr(obj, columns.get(name, name), value)


def _pool_tls_defaults(pool):
    if not pool.tls_enabled:
        return
    settings = config.CONF.api_settings
    pool.tls_ciphers = pool.tls_ciphers or (settings.default_pool_ciphers
                                            or settings.default_listener_ciphers)
    pool.tls_versions = pool.tls_versions or list(settings.default_pool_tls_versions)
    pool.alpn_protocols = pool.alpn_protocols or list(settings.default_pool_alpn_protocols)


def check_pool(lb, pool):
    providers.check_algorithm(lb.provider, pool.lb_algorithm)
    sp = pool.session_persistence or {}
    if sp:
        rules.check_session_persistence(sp.get('type'), sp.get('cookie_name'))
    rules.check_session_persistence_for_protocol(
        pool.protocol, sp.get('type'), sp.get('persistence_timeout'),
        sp.get('persistence_granularity'))
    for listener in pool.default_listeners:
        rules.check_listener_pool_protocol(listener.protocol, pool.protocol)
    rules.check_pool_tls_refs(pool.ca_tls_certificate_id, pool.crl_container_id)


def build_pool(lb, values, listener=None):
    pool = models.Pool(project_id=lb.project_id,
                       **lifecycle.new_status_fields(values.get('admin_state_up', True)))
    lb.pools.append(pool)  # through the parent, so the session adopts it
    assign(pool, values, POOL_FIELDS, POOL_COLUMNS)
    _pool_tls_defaults(pool)
    if listener is not None:
        if listener.default_pool_id or listener.default_pool is not None:
            raise errors.Conflict('Listener %s already has a default pool' % listener.id)
        listener.default_pool = pool
    check_pool(lb, pool)
    return pool


def create_pool(session, values):
    listener = None
    if values.get('listener_id'):
        listener = session.get(models.Listener, values['listener_id'])
        if listener is None or listener.provisioning_status == lifecycle.DELETED:
            raise errors.NotFound('Listener', values['listener_id'])
        lb_id = values.get('loadbalancer_id') or listener.load_balancer_id
        if lb_id != listener.load_balancer_id:
            raise errors.ValidationFailure('Listener and Load Balancer do not match.')
    else:
        lb_id = values['loadbalancer_id']
    lb = lifecycle.lock_mutable_lb(session, lb_id)
    if listener is not None:
        listener = session.get(models.Listener, listener.id)  # as it is under the lock
    quotas.check(session, lb.project_id, pool=1)
    pool = build_pool(lb, values, listener)
    session.flush()
    lifecycle.mark(lifecycle.PENDING_UPDATE, listener)
    lifecycle.touch_lb(session, lb, [pool])
    return pool


def get_pool(session, pool_id):
    pool = session.get(models.Pool, pool_id)
    if pool is None or pool.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Pool', pool_id)
    return pool


def _lock_pool(session, pool_id):
    """The pool's LB locked, then the pool read again under that lock."""
    lb = lifecycle.lock_mutable_lb(session, get_pool(session, pool_id).load_balancer_id)
    return lb, get_pool(session, pool_id)


def update_pool(session, pool_id, changes):
    lb, pool = _lock_pool(session, pool_id)
    sp = changes.get('session_persistence')
    if sp and not sp.get('type') and pool.session_persistence:
        sp['type'] = pool.session_persistence.get('type')  # PUT inherits the type
    for name in ('tls_ciphers', 'tls_versions', 'alpn_protocols'):
        if name in changes and changes[name] is None:
            setattr(pool, name, None)
    assign(pool, changes, POOL_FIELDS, POOL_COLUMNS)
    _pool_tls_defaults(pool)
    check_pool(lb, pool)
    pool.provisioning_status = lifecycle.PENDING_UPDATE
    lifecycle.mark(lifecycle.PENDING_UPDATE, *pool.default_listeners)
    lifecycle.touch_lb(session, lb, [pool])
    return pool


def delete_pool(session, pool_id):
    lb, pool = _lock_pool(session, pool_id)
    for policy in pool.l7policies:
        if policy.provisioning_status != lifecycle.PENDING_DELETE:
            raise errors.Conflict('Pool %s is in use by L7 policy %s' % (pool.id, policy.id))
    lifecycle.mark(lifecycle.PENDING_DELETE, pool, pool.health_monitor, *pool.members)
    lifecycle.mark(lifecycle.PENDING_UPDATE, *pool.default_listeners)
    lifecycle.touch_lb(session, lb, [pool])


def lock_pool_parent(session, pool_id):
    """For member and HM writes: the pool required ACTIVE (checked first, as
    Octavia does), and the LB locked."""
    lifecycle.require_active(get_pool(session, pool_id), 'Pool')
    lb, pool = _lock_pool(session, pool_id)
    lifecycle.require_active(pool, 'Pool')
    return lb, pool


def _pool_pending(pool):
    lifecycle.mark(lifecycle.PENDING_UPDATE, pool, *pool.default_listeners)


# Members ------------------------------------------------------------------


def build_member(pool, values, check_duplicate=True):
    """A new member of `pool`. A batch update, whose new keys are known unique,
    skips the duplicate scan: it is O(members) for each new member."""
    duplicate = check_duplicate and next(
        (m for m in pool.members if m.ip_address == values['address']
         and m.protocol_port == values['protocol_port']), None)
    if duplicate:
        raise errors.Conflict('Another member on this pool is already using ip address %s '
                              'on protocol_port %d' % (values['address'],
                                                       values['protocol_port']))
    operating = lifecycle.OFFLINE if pool.health_monitor else lifecycle.NO_MONITOR
    member = models.Member(project_id=pool.project_id,
                           **lifecycle.new_status_fields(values.get('admin_state_up', True),
                                                         operating))
    assign(member, values, MEMBER_FIELDS, MEMBER_COLUMNS)
    member.weight = 1 if member.weight is None else member.weight
    member.backup = bool(member.backup)
    pool.members.append(member)
    return member


def create_member(session, pool_id, values):
    lb, pool = lock_pool_parent(session, pool_id)
    quotas.check(session, lb.project_id, member=1)
    member = build_member(pool, values)
    session.flush()
    _pool_pending(pool)
    lifecycle.touch_lb(session, lb, [member])
    return member


def get_member(session, pool_id, member_id):
    member = session.get(models.Member, member_id)
    if member is None or member.pool_id != pool_id or \
            member.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Member', member_id)
    return member


def update_member(session, pool_id, member_id, changes):
    lb, pool = lock_pool_parent(session, pool_id)
    member = get_member(session, pool_id, member_id)
    assign(member, changes, MEMBER_FIELDS, MEMBER_COLUMNS)
    member.provisioning_status = lifecycle.PENDING_UPDATE
    _pool_pending(pool)
    lifecycle.touch_lb(session, lb, [member])
    return member


def delete_member(session, pool_id, member_id):
    lb, pool = lock_pool_parent(session, pool_id)
    member = get_member(session, pool_id, member_id)
    member.provisioning_status = lifecycle.PENDING_DELETE
    _pool_pending(pool)
    lifecycle.touch_lb(session, lb, [member])


def batch_update_members(session, pool_id, wanted, additive_only):
    """Replace the pool's members by `wanted`, matched on (address, port)."""
    lb, pool = lock_pool_parent(session, pool_id)
    keys = [(m['address'], m['protocol_port']) for m in wanted]
    if len(set(keys)) != len(keys):
        raise errors.ValidationFailure('Duplicate member address and protocol_port '
                                       'in the request.')
    current = {(m.ip_address, m.protocol_port): m for m in pool.members}
    new = [m for m in wanted if (m['address'], m['protocol_port']) not in current]
    gone = [] if additive_only else [m for k, m in current.items() if k not in set(keys)]
    quotas.check(session, lb.project_id, member=len(new) - len(gone))
    targets = []
    for values in wanted:
        existing = current.get((values['address'], values['protocol_port']))
        if existing is None:
            targets.append(build_member(pool, values, check_duplicate=False))
        elif _member_differs(existing, values):
            assign(existing, {k: v for k, v in values.items() if k != 'request_sriov'},
                   MEMBER_FIELDS, MEMBER_COLUMNS)
            existing.provisioning_status = lifecycle.PENDING_UPDATE
            targets.append(existing)
    lifecycle.mark(lifecycle.PENDING_DELETE, *gone)
    targets += gone
    if not targets:
        return False  # nothing changes: Octavia answers 202 and does nothing
    session.flush()
    _pool_pending(pool)
    lifecycle.touch_lb(session, lb, targets)
    return True


def _member_differs(member, values):
    for name, value in values.items():
        if name in MEMBER_FIELDS and name != 'tags' and \
                getattr(member, MEMBER_COLUMNS.get(name, name)) != value:
            return True
    return 'tags' in values and member.tags != list(values['tags'] or [])


# Health monitors ----------------------------------------------------------


def build_healthmonitor(pool, values):
    if pool.health_monitor is not None and \
            pool.health_monitor.provisioning_status != lifecycle.PENDING_DELETE:
        raise errors.Conflict('This pool already has a health monitor')
    settings = config.CONF.api_settings
    if values['type'] == 'PING' and not settings.allow_ping_health_monitors:
        raise errors.ApiError('The selected type is not allowed in this deployment: PING')
    rules.check_hm_type_for_pool(pool.protocol, values['type'])
    rules.check_udp_connect_delay(values['type'], values['delay'],
                                  settings.udp_connect_min_interval_health_monitor)
    hm = models.HealthMonitor(project_id=pool.project_id,
                              **lifecycle.new_status_fields(values.get('admin_state_up', True)))
    assign(hm, values, HM_FIELDS, HM_COLUMNS)
    hm.fall_threshold = hm.fall_threshold or 3
    pool.health_monitor = hm
    return hm


def create_healthmonitor(session, values):
    lb, pool = lock_pool_parent(session, values['pool_id'])
    quotas.check(session, lb.project_id, healthmonitor=1)
    hm = build_healthmonitor(pool, values)
    session.flush()
    _pool_pending(pool)
    lifecycle.touch_lb(session, lb, [hm])
    return hm


def get_healthmonitor(session, hm_id):
    hm = session.get(models.HealthMonitor, hm_id)
    if hm is None or hm.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Health Monitor', hm_id)
    return hm


def update_healthmonitor(session, hm_id, changes):
    lb, pool = lock_pool_parent(session, get_healthmonitor(session, hm_id).pool_id)
    hm = get_healthmonitor(session, hm_id)
    if hm.type not in ('HTTP', 'HTTPS'):
        for name in ('http_method', 'url_path', 'expected_codes'):
            if changes.get(name) is not None:
                raise errors.InvalidInput('Invalid input for field/attribute %s. Value: '
                                          "'%s'. Only allowed for HTTP and HTTPS health "
                                          'monitors.' % (name, changes[name]))
    assign(hm, changes, HM_FIELDS, HM_COLUMNS)
    rules.check_hm_domain_name(hm.http_version, hm.domain_name)
    hm.provisioning_status = lifecycle.PENDING_UPDATE
    _pool_pending(pool)
    lifecycle.touch_lb(session, lb, [hm])
    return hm


def delete_healthmonitor(session, hm_id):
    lb, pool = lock_pool_parent(session, get_healthmonitor(session, hm_id).pool_id)
    hm = get_healthmonitor(session, hm_id)
    hm.provisioning_status = lifecycle.PENDING_DELETE
    _pool_pending(pool)
    lifecycle.touch_lb(session, lb, [hm])

