"""Evaluating oslo.policy check trees fast, and remembering their answers.

oslo.policy's Enforcer.enforce() inspects the signature of every node it
visits and re-stats the policy file on every call; an API check cost
150-250 us. `evaluate` walks the same tree with each leaf class's signature
remembered. A rule made only of checks that depend on nothing but the
credentials and the target (`pure`) is answered from RESULTS the next time,
until the rules are reloaded (policy.get_enforcer clears it).
"""
import functools
import inspect
from typing import Any

from oslo_policy import _checks, policy


@functools.cache
def _takes_current_rule(check_class: type) -> bool:
    # oslo.policy still supports checks whose __call__ lacks current_rule.
    return len(inspect.getfullargspec(check_class.__call__).args) > 4


def evaluate(check: Any, target: dict[str, Any], creds: dict[str, Any], enforcer: Any,
             rule_name: str) -> bool:
    """Evaluate an oslo.policy check tree as Enforcer.enforce() does.

    oslo.policy inspects the signature of every node it visits
    (inspect.getfullargspec), which makes one API check cost 150-250 us.
    Walking the boolean nodes here and remembering each leaf class's
    signature gives the same answer in a few microseconds.
    """
    kind: type = type(check)
    if kind is policy.OrCheck:
        return any(evaluate(rule, target, creds, enforcer, rule_name)
                   for rule in check.rules)
    if kind is policy.AndCheck:
        return all(evaluate(rule, target, creds, enforcer, rule_name)
                   for rule in check.rules)
    if kind is policy.NotCheck:
        return not evaluate(check.rule, target, creds, enforcer, rule_name)
    if kind is policy.RuleCheck:
        try:
            referenced = enforcer.rules[check.match]
        except KeyError:  # an undefined rule fails closed, as in oslo
            return False
        return evaluate(referenced, target, creds, enforcer, rule_name)
    # Leaves: role:, generic (project_id:, is_admin:), @, !, http:, plugins.
    # oslo.policy's checks return a truth value; mypy sees them as Any.
    if _takes_current_rule(kind):
        result: bool = check(target, creds, enforcer, rule_name)
        return result
    result = check(target, creds, enforcer)
    return result


# Checks whose answer depends on the credentials and the target alone; a
# rule made only of these is answered from RESULTS the next time.
_PURE_CHECKS = frozenset((policy.AndCheck, policy.OrCheck, policy.NotCheck, policy.RuleCheck,
                          _checks.RoleCheck, _checks.GenericCheck, _checks.TrueCheck,
                          _checks.FalseCheck))
RESULTS_KEPT = 10000  # (rule, caller, target) answers kept between two reloads
RESULTS: dict[tuple[Any, ...], bool] = {}


def pure(check: Any, enforcer: Any, depth: int = 0) -> bool:
    """Whether `check` (and every rule it names) uses only _PURE_CHECKS."""
    if depth > 20 or type(check) not in _PURE_CHECKS:  # a plugin's subclass is not pure
        return False
    if type(check) is policy.RuleCheck:
        referenced = enforcer.rules.get(check.match)
        return referenced is None or pure(referenced, enforcer, depth + 1)
    children = getattr(check, 'rules', None) or [getattr(check, 'rule', None)]
    return all(child is None or pure(child, enforcer, depth + 1) for child in children)


def frozen(values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items())


def remember(key: tuple[Any, ...], answer: bool) -> None:
    if len(RESULTS) >= RESULTS_KEPT:
        RESULTS.clear()
    RESULTS[key] = answer
