"""Kubeconfig files that kubectl, lightkube and the ``kubernetes`` client all accept."""

from __future__ import annotations

import base64
import errno
import os
import pathlib
import tempfile
from typing import Any

import yaml

CONTEXT = 'jujusim'


def kubeconfig(
    *,
    server: str,
    token: str,
    namespace: str,
    user: str = 'admin',
    certificate_authority: bytes | None = None,
    insecure_skip_tls_verify: bool = False,
) -> dict[str, Any]:
    """A kubeconfig (``Config`` v1) with one cluster, one user and one current context.

    The format is client-go's (https://kubernetes.io/docs/concepts/configuration/
    organize-cluster-access-kubeconfig/; staging/src/k8s.io/client-go/tools/clientcmd/api/
    v1/types.go): the user authenticates with a bearer token, the context names the
    namespace that kubectl and lightkube use when none is given. For an ``https://`` server,
    ``certificate_authority`` is the PEM certificate to trust (``certificate-authority-data``).
    ``insecure_skip_tls_verify`` sets ``insecure-skip-tls-verify``: for a plain ``http://``
    server it changes nothing on the wire and spares lightkube the system CA bundle it
    otherwise loads into an SSL context for every client it builds (~14-70 ms each,
    lightkube ``config/client_adapter.py`` ``verify_cluster``).
    """
    cluster: dict[str, Any] = {'server': server}
    if certificate_authority is not None:
        cluster['certificate-authority-data'] = base64.b64encode(certificate_authority).decode()
    if insecure_skip_tls_verify:
        cluster['insecure-skip-tls-verify'] = True
    return {
        'apiVersion': 'v1',
        'kind': 'Config',
        'clusters': [{'name': CONTEXT, 'cluster': cluster}],
        'users': [{'name': user, 'user': {'token': token}}],
        'contexts': [
            {
                'name': CONTEXT,
                'context': {'cluster': CONTEXT, 'user': user, 'namespace': namespace},
            }
        ],
        'current-context': CONTEXT,
        'preferences': {},
    }


def write_kubeconfig(
    path: str | os.PathLike[str],
    *,
    server: str,
    token: str,
    namespace: str,
    user: str = 'admin',
    certificate_authority: bytes | None = None,
    insecure_skip_tls_verify: bool = False,
) -> pathlib.Path:
    """Write a kubeconfig for ``server`` to ``path`` and return the path.

    See :func:`kubeconfig` for the arguments.

    The file is readable by its owner only (it holds a token), and replaced atomically,
    so a client reading it concurrently sees the old file or the new one, never half.
    """
    target = pathlib.Path(path)
    text = yaml.safe_dump(
        kubeconfig(
            server=server,
            token=token,
            namespace=namespace,
            user=user,
            certificate_authority=certificate_authority,
            insecure_skip_tls_verify=insecure_skip_tls_verify,
        ),
        sort_keys=False,
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        # A file where a folder must be: mkdir says "File exists", which misleads.
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), e.filename) from e
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f'.{target.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return target
