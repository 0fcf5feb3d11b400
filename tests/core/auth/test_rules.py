"""Access control: ACL, RBAC and ABAC decisions; deny overrides; deny by default."""

from __future__ import annotations

import pytest

from hld.core.auth.expr import ExpressionError, compile_expression
from hld.core.auth.rules import AccessRequest, Policy, Rule, Subject

ALICE = Subject("alice", frozenset({"editor"}), {"department": "news"})
BOB = Subject("bob", frozenset({"viewer"}), {"department": "sport"})


def ask(policy: Policy, subject: Subject, action: str, resource: str, **attrs: object) -> bool:
    return policy.decide(AccessRequest(subject, action, resource, attrs,
                                       {"hour": 10})).allowed


def test_default_is_deny() -> None:
    assert not ask(Policy(), ALICE, "GET", "/posts")


def test_acl_names_a_user() -> None:
    policy = Policy([Rule("allow", ("user:bob",), ("GET",), ("/posts/*",))])
    assert ask(policy, BOB, "GET", "/posts/1")
    assert not ask(policy, ALICE, "GET", "/posts/1")
    assert not ask(policy, BOB, "DELETE", "/posts/1")
    assert not ask(policy, BOB, "GET", "/posts/1/likes")


def test_rbac_roles_inherit_from_parents() -> None:
    policy = Policy([Rule("allow", ("role:viewer",), ("GET",), ("/**",)),
                     Rule("allow", ("role:editor",), ("POST",), ("/posts",))],
                    role_parents={"editor": ["viewer"]})
    assert ask(policy, ALICE, "GET", "/anything/at/all")
    assert ask(policy, ALICE, "POST", "/posts")
    assert not ask(policy, BOB, "POST", "/posts")
    assert policy.roles_of(ALICE) == {"editor", "viewer"}


def test_deny_overrides_allow() -> None:
    policy = Policy([Rule("allow", ("*",), ("*",), ("/**",)),
                     Rule("deny", ("user:bob",), ("*",), ("/admin/**",), name="no-admin")])
    assert ask(policy, ALICE, "GET", "/admin/users")
    decision = policy.decide(AccessRequest(BOB, "GET", "/admin/users"))
    assert (decision.allowed, decision.rule) == (False, "no-admin")


def test_abac_condition_over_attributes() -> None:
    policy = Policy([Rule("allow", ("*",), ("PUT",), ("/articles/*",),
                          condition="subject.department == resource.department "
                                    "and env.hour >= 9 and env.hour < 18")])
    assert ask(policy, ALICE, "PUT", "/articles/7", department="news")
    assert not ask(policy, BOB, "PUT", "/articles/7", department="news")


def test_query_string_does_not_change_the_resource() -> None:
    policy = Policy([Rule("allow", ("*",), ("GET",), ("/posts",))])
    assert ask(policy, BOB, "GET", "/posts?limit=5")


def test_thousands_of_rules_decide_from_the_index() -> None:
    """Ten thousand per-user rules: each user gets exactly their own resource."""
    rules = [Rule("allow", (f"user:u{i}",), ("GET",), (f"/users/u{i}/**",)) for i in range(10_000)]
    policy = Policy(rules)
    assert len(policy) == 10_000
    assert ask(policy, Subject("u4242"), "GET", "/users/u4242/timeline")
    assert not ask(policy, Subject("u4242"), "GET", "/users/u4243/timeline")


@pytest.mark.parametrize(("rule_args", "message"), [
    (("maybe", ("*",), ("*",), ("/",)), "effect"),
    (("allow", (), ("*",), ("/",)), "subjects"),
    (("allow", ("alice",), ("*",), ("/",)), "user:ID"),
    (("allow", ("*",), ("*",), ("posts",)), "must start with"),
    (("allow", ("*",), ("*",), ("/a/**/b",)), "may only end"),
])
def test_bad_rules_name_the_problem(rule_args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rule(*rule_args)  # type: ignore[arg-type]


def test_role_cycles_are_bounded() -> None:
    policy = Policy(role_parents={f"r{i}": [f"r{i + 1}"] for i in range(100)})
    with pytest.raises(ValueError, match="deeper"):
        policy.roles_of(Subject("x", frozenset({"r0"})))


@pytest.mark.parametrize(("text", "expected"), [
    ("1 < 2", True),
    ("'a' in ['a', 'b']", True),
    ("'c' not in ['a', 'b']", True),
    ("not (x.y == 3)", False),
    ("x.y == 3 and x.z == null", True),
    ("x.missing > 1", False),
    ("x.y < 'text'", False),
    ("false or x.y >= 3", True),
])
def test_expressions(text: str, expected: bool) -> None:
    assert bool(compile_expression(text)({"x": {"y": 3}})) is expected


@pytest.mark.parametrize("text", ["1 <", "(1 == 1", "a == == b", "__import__('os')", "a $ b",
                                  "and", "[1, 2"])
def test_bad_expressions_raise(text: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(text)
