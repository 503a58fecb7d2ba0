"""`lbaas status upgrade check`: is this host ready to run the new code?

Run after `lbaas db upgrade`, before the services are restarted. The checks
read the configuration and the database; they change nothing. Only
`lbaas.cli` imports this module; it hands over the policy rules, so nothing
here imports the API (the layers point downward).
"""
from collections.abc import Callable
from typing import Any

from oslo_config import cfg
from oslo_policy import policy
from oslo_upgradecheck import upgradecheck
from oslo_upgradecheck.upgradecheck import Code, Result

from lbaas import config
from lbaas.db import migrate


class Checks(upgradecheck.UpgradeCommands):
    """The checks; `rules` returns the registered policy defaults."""

    def __init__(self, rules: Callable[[], list[Any]]) -> None:
        self.rules = rules

    def _database(self) -> Result:
        try:
            revision, head = migrate.current()
        except Exception as exc:  # unreachable server, bad URL: say which
            return Result(Code.FAILURE, 'Cannot read the database revision: %s' % exc)
        if revision == head:
            return Result(Code.SUCCESS, 'The database is at the head revision %s.' % head)
        return Result(Code.FAILURE, 'The database is at revision %s, not at the head %s: '
                                    'run `lbaas db upgrade`.' % (revision or 'none', head))

    def _policy(self) -> Result:
        name = config.CONF.oslo_policy.policy_file
        path = config.CONF.find_file(name)
        if path is None:
            return Result(Code.SUCCESS, 'No policy file %s; the defaults apply.' % name)
        enforcer = policy.Enforcer(config.CONF, policy_file=path)
        enforcer.register_defaults(self.rules())
        enforcer.suppress_default_change_warnings = True
        try:
            enforcer.load_rules(force_reload=True)
        except Exception as exc:  # oslo.policy raises whatever its parser does
            return Result(Code.FAILURE, 'The policy file %s cannot be read: %s' % (path, exc))
        if not enforcer.check_rules():
            return Result(Code.FAILURE, 'The policy file %s refers to undefined rules or '
                                        'has a cycle (the log names them).' % path)
        unknown = sorted(set(enforcer.file_rules) - set(enforcer.registered_rules))
        if unknown:
            return Result(Code.WARNING, 'The policy file %s sets rules lbaas does not '
                                        'have: %s' % (path, ', '.join(unknown)))
        return Result(Code.SUCCESS, 'The policy file %s is valid.' % path)

    def _configuration(self) -> Result:
        try:
            config.validate()
        except config.ConfigError as exc:
            return Result(Code.FAILURE, str(exc))
        return Result(Code.SUCCESS)

    _upgrade_checks = (('Database at head', _database),
                       ('Policy file', _policy),
                       ('Configuration', _configuration))


def main(rules: Callable[[], list[Any]], as_json: bool = False) -> int:
    """Run the checks; the exit code is oslo.upgradecheck's (0, 1, 2, or 255)."""
    # A ConfigOpts of its own: oslo.upgradecheck parses its sub-command (and
    # --json) there, while lbaas's options stay as the command line set them.
    argv = ['upgrade', 'check'] + (['--json'] if as_json else [])
    code: int = upgradecheck.main(cfg.ConfigOpts(), 'lbaas', Checks(rules), argv=argv,
                                  default_config_files=[])
    return code
