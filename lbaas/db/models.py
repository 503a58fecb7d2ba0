"""SQLAlchemy models: one class per entity, columns named for the database.

Octavia's API names (admin_state_up, loadbalancer_id, ...) live in the API
views only; here `enabled`, `load_balancer_id` and so on, as Octavia's tables.
"""
import datetime
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    pass


def _id() -> MappedColumn[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class StatusMixin(TimestampMixin):
    """Columns every load-balancing object carries."""
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    provisioning_status: Mapped[str] = mapped_column(String(16))
    operating_status: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Tag(Base):
    """Tags of any object, keyed by the object's id (ids are globally unique)."""
    __tablename__ = 'tags'
    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    __table_args__ = (Index('ix_tags_tag', 'tag'),)


class Taggable:
    """Each subclass gets `tag_rows`, its Tag rows joined on its own id."""

    if TYPE_CHECKING:
        # Declared for the type checker only: the subclass maps `id`, and
        # __init_subclass__ below sets `tag_rows`.
        id: Mapped[str]
        tag_rows: Mapped[list[Tag]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Set before super() so the declarative base maps it with the class.
        cls.tag_rows = relationship(
            Tag, primaryjoin=lambda: cls.id == Tag.resource_id,
            foreign_keys=lambda: [Tag.resource_id],
            cascade='all, delete-orphan', lazy='selectin', order_by=Tag.tag,
            overlaps='tag_rows')
        super().__init_subclass__(**kwargs)

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]

    @tags.setter
    def tags(self, values: Iterable[str] | None) -> None:
        wanted = list(dict.fromkeys(values or []))
        keep = {t.tag: t for t in self.tag_rows}
        self.tag_rows = [keep.get(v) or Tag(tag=v) for v in wanted]


class LoadBalancer(Taggable, StatusMixin, Base):
    __tablename__ = 'load_balancer'
    id: Mapped[str] = _id()
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    topology: Mapped[str] = mapped_column(String(16), default='SINGLE')
    # ACTIVE_ACTIVE only: how many amphorae serve at once (None otherwise)
    amphora_count: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str | None] = mapped_column(String(64))
    flavor_id: Mapped[str | None] = mapped_column(String(36), ForeignKey('flavor.id'))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    # Reconcile bookkeeping (DESIGN section 2): bumped by every API write.
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failover_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ids of the objects the pending API write targets: on a permanent
    # failure these go to ERROR and their parents back to ACTIVE (Octavia's
    # revert semantics). One write per pending period, as the LB is locked.
    pending_targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The API request that gave the pending work, so that the worker's log
    # lines for it carry the id the client got in x-openstack-request-id.
    request_id: Mapped[str | None] = mapped_column(String(64))

    vip: Mapped['Vip'] = relationship(back_populates='load_balancer', uselist=False,
                                      cascade='all, delete-orphan', lazy='joined')
    additional_vips: Mapped[list['AdditionalVip']] = relationship(
        cascade='all, delete-orphan', lazy='selectin')
    vip_security_groups: Mapped[list['VipSecurityGroup']] = relationship(
        cascade='all, delete-orphan', lazy='selectin')
    listeners: Mapped[list['Listener']] = relationship(
        back_populates='load_balancer', cascade='all, delete-orphan',
        order_by='(Listener.created_at, Listener.id)')
    pools: Mapped[list['Pool']] = relationship(
        back_populates='load_balancer', cascade='all, delete-orphan',
        order_by='(Pool.created_at, Pool.id)')
    amphorae: Mapped[list['Amphora']] = relationship(back_populates='load_balancer')

    __table_args__ = (Index('ix_lb_work', 'provisioning_status', 'next_attempt_at'),)


class Vip(Base):
    __tablename__ = 'vip'
    load_balancer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('load_balancer.id', ondelete='CASCADE'), primary_key=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    port_id: Mapped[str | None] = mapped_column(String(36))
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    network_id: Mapped[str | None] = mapped_column(String(36))
    qos_policy_id: Mapped[str | None] = mapped_column(String(36))
    octavia_owned: Mapped[bool] = mapped_column(Boolean, default=True)
    vnic_type: Mapped[str] = mapped_column(String(16), default='normal')
    load_balancer: Mapped[LoadBalancer] = relationship(back_populates='vip')
    # Two API processes allocating at once cannot both take one address.
    __table_args__ = (UniqueConstraint('subnet_id', 'ip_address', name='uq_vip_subnet_address'),)


class AdditionalVip(Base):
    __tablename__ = 'additional_vip'
    load_balancer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('load_balancer.id', ondelete='CASCADE'), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str | None] = mapped_column(String(36))
    port_id: Mapped[str | None] = mapped_column(String(36))
    ip_address: Mapped[str | None] = mapped_column(String(64))


class VipSecurityGroup(Base):
    __tablename__ = 'vip_security_group'
    load_balancer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('load_balancer.id', ondelete='CASCADE'), primary_key=True)
    sg_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class Listener(Taggable, StatusMixin, Base):
    __tablename__ = 'listener'
    id: Mapped[str] = _id()
    load_balancer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('load_balancer.id'), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(String(36), ForeignKey('pool.id'))
    default_tls_container_id: Mapped[str | None] = mapped_column(String(255))
    client_ca_tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    client_authentication: Mapped[str] = mapped_column(String(16), default='NONE')
    client_crl_container_id: Mapped[str | None] = mapped_column(String(255))
    insert_headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timeout_client_data: Mapped[int | None] = mapped_column(Integer)
    timeout_member_connect: Mapped[int | None] = mapped_column(Integer)
    timeout_member_data: Mapped[int | None] = mapped_column(Integer)
    timeout_tcp_inspect: Mapped[int | None] = mapped_column(Integer)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_cidrs: Mapped[list[str] | None] = mapped_column(JSON)
    sni_container_refs: Mapped[list[str]] = mapped_column(JSON, default=list)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates='listeners')
    default_pool: Mapped['Pool | None'] = relationship(
        back_populates='default_listeners', foreign_keys=[default_pool_id])
    l7policies: Mapped[list['L7Policy']] = relationship(
        back_populates='listener', cascade='all, delete-orphan',
        order_by='(L7Policy.position, L7Policy.id)')


class Pool(Taggable, StatusMixin, Base):
    __tablename__ = 'pool'
    id: Mapped[str] = _id()
    load_balancer_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('load_balancer.id'), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    # {type, cookie_name, persistence_timeout, persistence_granularity} or None
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    ca_tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    crl_container_id: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates='pools')
    default_listeners: Mapped[list[Listener]] = relationship(
        back_populates='default_pool', foreign_keys=[Listener.default_pool_id])
    members: Mapped[list['Member']] = relationship(
        back_populates='pool', cascade='all, delete-orphan', order_by='(Member.created_at, Member.id)')
    health_monitor: Mapped['HealthMonitor | None'] = relationship(
        back_populates='pool', uselist=False, cascade='all, delete-orphan')
    l7policies: Mapped[list['L7Policy']] = relationship(
        back_populates='redirect_pool', foreign_keys='L7Policy.redirect_pool_id')


class Member(Taggable, StatusMixin, Base):
    __tablename__ = 'member'
    id: Mapped[str] = _id()
    pool_id: Mapped[str] = mapped_column(String(36), ForeignKey('pool.id'))
    name: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    vnic_type: Mapped[str] = mapped_column(String(16), default='normal')
    pool: Mapped[Pool] = relationship(back_populates='members')
    __table_args__ = (UniqueConstraint('pool_id', 'ip_address', 'protocol_port',
                                       name='uq_member_pool_address_port'),)


class HealthMonitor(Taggable, StatusMixin, Base):
    __tablename__ = 'health_monitor'
    id: Mapped[str] = _id()
    pool_id: Mapped[str] = mapped_column(String(36), ForeignKey('pool.id'), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(36))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    fall_threshold: Mapped[int] = mapped_column(Integer)
    rise_threshold: Mapped[int] = mapped_column(Integer)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column()
    domain_name: Mapped[str | None] = mapped_column(String(255))
    pool: Mapped[Pool] = relationship(back_populates='health_monitor')


class L7Policy(Taggable, StatusMixin, Base):
    __tablename__ = 'l7policy'
    id: Mapped[str] = _id()
    listener_id: Mapped[str] = mapped_column(String(36), ForeignKey('listener.id'), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(36))
    redirect_pool_id: Mapped[str | None] = mapped_column(String(36), ForeignKey('pool.id'))
    redirect_url: Mapped[str | None] = mapped_column(String(255))
    redirect_prefix: Mapped[str | None] = mapped_column(String(255))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    listener: Mapped[Listener] = relationship(back_populates='l7policies')
    redirect_pool: Mapped[Pool | None] = relationship(
        back_populates='l7policies', foreign_keys=[redirect_pool_id])
    rules: Mapped[list['L7Rule']] = relationship(
        back_populates='l7policy', cascade='all, delete-orphan', order_by='(L7Rule.created_at, L7Rule.id)')


class L7Rule(Taggable, StatusMixin, Base):
    __tablename__ = 'l7rule'
    id: Mapped[str] = _id()
    l7policy_id: Mapped[str] = mapped_column(String(36), ForeignKey('l7policy.id'), index=True)
    type: Mapped[str] = mapped_column(String(36))
    compare_type: Mapped[str] = mapped_column(String(36))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)
    l7policy: Mapped[L7Policy] = relationship(back_populates='rules')


class Quota(Base):
    __tablename__ = 'quotas'
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    health_monitor: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)
    # True once an operator set limits; rows made only to serialise quota
    # checks are not listed by GET /quotas (Octavia lists set quotas only).
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)


class FlavorProfile(Base):
    __tablename__ = 'flavor_profile'
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(String(4096))


class Flavor(Base):
    __tablename__ = 'flavor'
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(String(36), ForeignKey('flavor_profile.id'))
    flavor_profile: Mapped[FlavorProfile] = relationship(lazy='joined')


class AvailabilityZoneProfile(Base):
    __tablename__ = 'availability_zone_profile'
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(String(4096))


class AvailabilityZone(Base):
    __tablename__ = 'availability_zone'
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('availability_zone_profile.id'))
    availability_zone_profile: Mapped[AvailabilityZoneProfile] = relationship(lazy='joined')


class Amphora(TimestampMixin, Base):
    __tablename__ = 'amphora'
    id: Mapped[str] = _id()
    compute_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(36))
    load_balancer_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey('load_balancer.id'), index=True)
    lb_network_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36))
    ha_port_id: Mapped[str | None] = mapped_column(String(36))
    role: Mapped[str | None] = mapped_column(String(36))
    cert_expiration: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    vrrp_interface: Mapped[str | None] = mapped_column(String(16))
    vrrp_id: Mapped[int | None] = mapped_column(Integer)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer)
    cached_zone: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[str | None] = mapped_column(String(36))
    compute_flavor: Mapped[str | None] = mapped_column(String(255))
    config_digest: Mapped[str | None] = mapped_column(String(64))
    failover_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The data-plane host whose worker builds, plugs and deletes it (controller/hosts.py).
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates='amphorae')


class Host(Base):
    """A data-plane host: its workers register it and keep `heartbeat_at` fresh."""

    __tablename__ = 'host'
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    capacity: Mapped[int] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime.datetime] = mapped_column(DateTime)


class AmphoraHealth(Base):
    __tablename__ = 'amphora_health'
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_update: Mapped[datetime.datetime] = mapped_column(DateTime)
    busy: Mapped[bool] = mapped_column(Boolean, default=False)


class ListenerStatistics(Base):
    __tablename__ = 'listener_statistics'
    listener_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(Integer, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)


def descendants(lb: LoadBalancer) -> Iterator[Base]:
    """Every object under an LB: listeners, policies, rules, pools, members, monitors."""
    for listener in lb.listeners:
        yield listener
        for policy in listener.l7policies:
            yield policy
            yield from policy.rules
    for pool in lb.pools:
        yield pool
        yield from pool.members
        if pool.health_monitor is not None:
            yield pool.health_monitor


# --- The embedded key-manager store (a subset of Barbican's API v1) ---------------
# Payloads are Fernet tokens (lbaas/db/secrets.py), never plaintext. A read ACL
# is kept on its object: `acl_read_users` None means no ACL was ever set.

# A Fernet token of the largest payload (64 KiB) outgrows MySQL's BLOB.
_PAYLOAD_BYTES = LargeBinary().with_variant(mysql.MEDIUMBLOB(), 'mysql')


class KeyManagerSecret(Base):
    __tablename__ = 'km_secret'
    id: Mapped[str] = _id()
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    secret_type: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str | None] = mapped_column(String(255))
    algorithm: Mapped[str | None] = mapped_column(String(255))
    bit_length: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(255))
    expiration: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    creator_id: Mapped[str | None] = mapped_column(String(255))
    # Deferred: lists and metadata reads never load it; `content_type` is set
    # exactly when a payload is.
    encrypted_payload: Mapped[bytes | None] = mapped_column(_PAYLOAD_BYTES,
                                                            deferred=True)
    acl_read_users: Mapped[list[str] | None] = mapped_column(JSON)
    acl_project_access: Mapped[bool] = mapped_column(Boolean, default=True)
    acl_updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class KeyManagerContainer(Base):
    __tablename__ = 'km_container'
    id: Mapped[str] = _id()
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    creator_id: Mapped[str | None] = mapped_column(String(255))
    acl_read_users: Mapped[list[str] | None] = mapped_column(JSON)
    acl_project_access: Mapped[bool] = mapped_column(Boolean, default=True)
    acl_updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, onupdate=utcnow)
    refs: Mapped[list['KeyManagerContainerSecret']] = relationship(
        cascade='all, delete-orphan', lazy='selectin', order_by='KeyManagerContainerSecret.name')


class KeyManagerContainerSecret(Base):
    """One named secret of a container (certificate, private_key, ...)."""
    __tablename__ = 'km_container_secret'
    container_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('km_container.id', ondelete='CASCADE'), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    secret_id: Mapped[str] = mapped_column(String(36), ForeignKey('km_secret.id'), index=True)
