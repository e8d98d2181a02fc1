"""What a consumer's leader must show when its labels cannot be judged: it is untrusted.

Shared by jujusim's check and the real-Juju backend of ``tests/integration``, which read
the leader's status each their own way (the model's record, ``juju status``).
"""

from __future__ import annotations

# How a consumer that does not say it needs `juju trust` while untrusted is reported.
UNTRUSTED_NOT_BLOCKED = 'not Blocked naming juju trust while untrusted'


def untrusted_leader_problem(
    app: str,
    leader_status: tuple[str, str] | None,
    *,
    refused: str | None,
    in_error: bool,
) -> str | None:
    """The problem with an untrusted consumer's leader's status (workload, message), if any.

    Juju's Role for an application without ``juju trust`` lets its units read and patch
    Pods and Services only (juju/juju ``caas/kubernetes/provider/application/trust.go``
    ``getDefaultApplicationNamespaceRules``, as ``jujusim.kube.JujuAppPolicy``): no
    consumer can make its labels follow the data then, so none is judged on them; but its
    leader must say what to run: Blocked naming ``juju trust``, or Blocked on data it must
    refuse anyway (``refused``). A leader in error (``in_error``) is reported as such
    elsewhere.
    ``leader_status`` None: no leader.
    """
    if in_error:
        return None
    workload, message = leader_status or ('', '')
    if workload == 'blocked' and ('juju trust' in message or refused is not None):
        return None
    shown = f'{workload} {message!r}' if leader_status else 'no leader'
    return f'{app} is {UNTRUSTED_NOT_BLOCKED} (no labels can be managed); its leader is {shown}'
