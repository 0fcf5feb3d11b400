"""Access control: ACL, RBAC and ABAC rules behind one decision function.

A rule says who (``user:alice``, ``role:editor`` or ``*``), may or may not do what
(``read``, ``GET`` or ``*``) to which resources (a path pattern where ``*`` matches one
segment and a trailing ``**`` the rest), optionally only when a condition over
attributes holds (``hld.core.auth.expr``). ACLs name users, RBAC names roles (roles
inherit from parent roles), ABAC adds conditions; they mix freely.

Decision: deny by default; a matching ``deny`` overrides any ``allow``.

Strategy: rules are indexed by subject key, then action, then a trie of path segments,
so a decision visits only the rules that could match the request, whatever the total
number of rules (a policy engine that scans every rule costs milliseconds at 10k rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hld.core.auth.expr import Evaluator, compile_expression

Effect = Literal["allow", "deny"]

ROLE_DEPTH_MAX = 32  # role inheritance deeper than this is a cycle or a mistake


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks: an id, its roles and free attributes (department, plan, ...)."""

    id: str
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessRequest:
    subject: Subject
    action: str
    resource: str
    resource_attributes: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    effect: Effect
    subjects: tuple[str, ...]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        label = self.name or f"{self.effect} {self.subjects} {self.actions} {self.resources}"
        if self.effect not in ("allow", "deny"):
            raise ValueError(f"rule {label}: effect must be 'allow' or 'deny', not {self.effect!r}")
        for what, values in (("subjects", self.subjects), ("actions", self.actions),
                             ("resources", self.resources)):
            if not values or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"rule {label}: {what} must be a non-empty list of strings")
        for subject in self.subjects:
            if subject != "*" and not subject.startswith(("user:", "role:")):
                raise ValueError(f"rule {label}: subject {subject!r} must be 'user:ID', "
                                 "'role:NAME' or '*'")
        for resource in self.resources:
            _segments(resource, label)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str | None  # the name of the deciding rule; None when denied by default
    reason: str


def _segments(pattern: str, label: str = "") -> tuple[str, ...]:
    if pattern in {"*", "**"}:
        return ("**",)
    if not pattern.startswith("/"):
        raise ValueError(f"rule {label}: resource {pattern!r} must start with '/' (or be '*')")
    parts = tuple(pattern.strip("/").split("/")) if pattern != "/" else ()
    if "**" in parts[:-1]:
        raise ValueError(f"rule {label}: '**' may only end a resource pattern ({pattern!r})")
    return parts


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    here: list[tuple[Rule, Evaluator | None]] = field(default_factory=list)
    rest: list[tuple[Rule, Evaluator | None]] = field(default_factory=list)  # under '**'


class Policy:
    """An indexed set of rules with an optional role hierarchy (child -> parents)."""

    def __init__(self, rules: Iterable[Rule] = (),
                 role_parents: Mapping[str, Iterable[str]] | None = None) -> None:
        self._index: dict[str, dict[str, _Node]] = {}
        self._parents = {role: tuple(parents) for role, parents in (role_parents or {}).items()}
        self._count = 0
        for rule in rules:
            self.add(rule)

    def __len__(self) -> int:
        return self._count

    def add(self, rule: Rule) -> None:
        evaluator = compile_expression(rule.condition) if rule.condition else None
        for subject in rule.subjects:
            by_action = self._index.setdefault(subject, {})
            for action in rule.actions:
                node = by_action.setdefault(action, _Node())
                for resource in rule.resources:
                    parts = _segments(resource, rule.name)
                    target = node
                    for part in parts:
                        if part == "**":
                            break
                        target = target.children.setdefault(part, _Node())
                    if parts and parts[-1] == "**":
                        target.rest.append((rule, evaluator))
                    else:
                        target.here.append((rule, evaluator))
        self._count += 1

    def roles_of(self, subject: Subject) -> set[str]:
        """The subject's roles and every role they inherit from."""
        seen: set[str] = set()
        frontier = list(subject.roles)
        depth = 0
        while frontier:
            depth += 1
            if depth > ROLE_DEPTH_MAX:
                raise ValueError(f"role hierarchy deeper than {ROLE_DEPTH_MAX} (a cycle?)")
            nxt: list[str] = []
            for role in frontier:
                if role not in seen:
                    seen.add(role)
                    nxt.extend(self._parents.get(role, ()))
            frontier = nxt
        return seen

    def decide(self, request: AccessRequest) -> Decision:
        keys = [f"user:{request.subject.id}", "*"]
        keys.extend(f"role:{role}" for role in self.roles_of(request.subject))
        path = request.resource.split("?", 1)[0]
        parts = [p for p in path.strip("/").split("/") if p] if path.strip("/") else []
        context: dict[str, Any] | None = None
        allowed_by: Rule | None = None
        for key in keys:
            by_action = self._index.get(key)
            if by_action is None:
                continue
            for action in (request.action, "*"):
                node = by_action.get(action)
                if node is None:
                    continue
                for rule, evaluator in _matches(node, parts):
                    if evaluator is not None:
                        if context is None:
                            context = _context(request)
                        if not evaluator(context):
                            continue
                    if rule.effect == "deny":
                        return Decision(False, rule.name or None, "denied by rule")
                    allowed_by = allowed_by or rule
        if allowed_by is not None:
            return Decision(True, allowed_by.name or None, "allowed by rule")
        return Decision(False, None, "no rule allows this request")


def _matches(node: _Node, parts: list[str]) -> Iterable[tuple[Rule, Evaluator | None]]:
    """Rules under ``node`` whose pattern matches ``parts`` (literal, '*' or trailing '**')."""
    stack: list[tuple[_Node, int]] = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        yield from current.rest
        if depth == len(parts):
            yield from current.here
            continue
        for key in (parts[depth], "*"):
            child = current.children.get(key)
            if child is not None:
                stack.append((child, depth + 1))


def _context(request: AccessRequest) -> dict[str, Any]:
    subject = request.subject
    return {
        "subject": {**subject.attributes, "id": subject.id, "roles": sorted(subject.roles)},
        "resource": {**request.resource_attributes, "path": request.resource},
        "action": request.action,
        "env": dict(request.environment),
    }
